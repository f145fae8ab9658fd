"""The decode adapters: which outputs the unsupervised losses reach, for a
multi-output head (DANet) and cascades (OCRNet, PointRend), and the clear
errors for segmentors SemiSegmentor cannot train."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.models.segmentors import (
    CascadeAdapter,
    SingleHeadAdapter,
    build_decode_adapter,
    predicted_output,
)
from tests.semi_utils import NUM_CLASSES, make_semi_batch, tiny_segmentor_cfg

# Every pixel reliable with weight 1, so that every unsupervised term has a
# gradient wherever its logits have one.
EVERY_PIXEL = {'type': 'ThresholdSelector', 'threshold': 0.0}


def head_cfg(type_name: str, **kwargs) -> dict:
    """A small head on the tiny backbone's stride-8 features (16 channels)."""
    cfg = dict(
        type=type_name,
        in_channels=16,
        in_index=1,
        channels=8,
        num_classes=NUM_CLASSES,
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))
    cfg.update(kwargs)
    return cfg


def danet() -> ConfigDict:
    cfg = tiny_segmentor_cfg()
    cfg.decode_head = head_cfg('DAHead', pam_channels=4)
    return cfg


def ocrnet() -> ConfigDict:
    cfg = tiny_segmentor_cfg()
    cfg.type = 'CascadeEncoderDecoder'
    cfg.num_stages = 2
    cfg.decode_head = [
        head_cfg('FCNHead', num_convs=1, concat_input=False),
        head_cfg('OCRHead', ocr_channels=8),
    ]
    return cfg


def pointrend() -> ConfigDict:
    cfg = tiny_segmentor_cfg()
    cfg.type = 'CascadeEncoderDecoder'
    cfg.num_stages = 2
    cfg.decode_head = [
        head_cfg('FCNHead', num_convs=1, concat_input=False),
        head_cfg('PointHead', in_channels=[16], in_index=[1], num_fcs=2,
                 coarse_pred_each_layer=True, dropout_ratio=-1),
    ]
    cfg.train_cfg = dict(num_points=64, oversample_ratio=3,
                         importance_sample_ratio=0.75)
    cfg.test_cfg = dict(mode='whole', subdivision_steps=2,
                        subdivision_num_points=256, scale_factor=2)
    return cfg


def unsup_grads(segmentor: ConfigDict) -> dict:
    """Parameter name -> gradient norm of the unsupervised terms alone, after
    one training step's losses of a SemiSegmentor around ``segmentor``."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='SemiSegmentor', segmentor=segmentor,
             semi_train_cfg=dict(selector=EVERY_PIXEL,
                                 masking=dict(block_size=8, ratio=0.7)),
             data_preprocessor=dict(type='BaseDataPreprocessor')))
    model.train()
    losses = model.loss(**make_semi_batch())
    unsup = [value for name, value in losses.items() if name.startswith('unsup.')]
    assert len(unsup) == 3
    sum(unsup).backward()
    return {
        name: 0.0 if param.grad is None else param.grad.norm().item()
        for name, param in model.segmentor.named_parameters()
    }


def test_multi_output_head_unsup_loss_reaches_the_predicted_output_only():
    grads = unsup_grads(danet())
    # the PAM+CAM fusion that inference predicts and both attention branches
    assert grads['decode_head.conv_seg.weight'] > 0
    assert grads['decode_head.pam_in_conv.conv.weight'] > 0
    assert grads['decode_head.cam_in_conv.conv.weight'] > 0
    assert grads['backbone.stem.0.weight'] > 0
    # the PAM-only and CAM-only maps are deep supervision: no pseudo-labels
    assert grads['decode_head.pam_conv_seg.weight'] == 0
    assert grads['decode_head.cam_conv_seg.weight'] == 0


@pytest.mark.parametrize('segmentor', [ocrnet, pointrend])
def test_cascade_unsup_loss_reaches_every_stage(segmentor):
    grads = unsup_grads(segmentor())
    final = ('decode_head.1.conv_seg.weight' if segmentor is ocrnet else
             'decode_head.1.fc_seg.weight')
    assert grads[final] > 0
    # the first stage's map feeds the final prediction (OCR's object regions,
    # PointRend's coarse map)
    assert grads['decode_head.0.conv_seg.weight'] > 0
    assert grads['backbone.stem.0.weight'] > 0


def test_cascade_supervised_loss_is_every_stage_own_loss():
    init_default_scope('mmseg')
    model = MODELS.build(
        dict(type='SemiSegmentor', segmentor=pointrend(), semi_train_cfg={},
             data_preprocessor=dict(type='BaseDataPreprocessor')))
    losses = model.loss(**make_semi_batch())
    assert {'sup.decode_0.loss_ce', 'sup.decode_1.pointloss_ce',
            'sup.aux.loss_ce'} <= losses.keys()


def test_adapters_by_segmentor_kind():
    init_default_scope('mmseg')
    assert isinstance(build_decode_adapter(MODELS.build(danet())),
                      SingleHeadAdapter)
    assert isinstance(build_decode_adapter(MODELS.build(ocrnet())),
                      CascadeAdapter)


def test_unknown_multi_output_head_is_a_clear_error():
    head = torch.nn.Conv2d(1, 1, 1)
    outputs = (torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(TypeError, match='Conv2d.forward returned tuple.*'
                       r'register_predicted_output\(Conv2d, index\)'):
        predicted_output(head, outputs)


def test_depth_estimator_is_refused_at_build_time():
    init_default_scope('mmseg')
    segmentor = tiny_segmentor_cfg()
    segmentor.type = 'DepthEstimator'
    with pytest.raises(TypeError, match='DepthEstimator predicts depth'):
        MODELS.build(
            dict(type='SemiSegmentor', segmentor=segmentor, semi_train_cfg={},
                 data_preprocessor=dict(type='BaseDataPreprocessor')))


@pytest.mark.parametrize('segmentor', [danet, ocrnet, pointrend])
@pytest.mark.parametrize('semi_train_cfg', [
    dict(teacher='ema'), dict(bn_running_stats='unimatch')])
def test_eval_mode_pseudo_labels(segmentor, semi_train_cfg):
    """The EMA teacher and the 'unimatch' CutMix sources predict in eval
    mode, where these heads return their prediction alone."""
    init_default_scope('mmseg')
    model = MODELS.build(
        dict(type='SemiSegmentor', segmentor=segmentor(),
             semi_train_cfg=dict(masking=dict(block_size=8, ratio=0.7),
                                 **semi_train_cfg),
             data_preprocessor=dict(type='BaseDataPreprocessor'))).train()
    losses = model.loss(**make_semi_batch())
    assert {'unsup.loss_s1', 'unsup.loss_s2', 'unsup.loss_fp'} <= losses.keys()
    assert all(torch.isfinite(value).all() for value in losses.values())
