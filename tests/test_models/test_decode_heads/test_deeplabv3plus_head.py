import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_csl import DeepLabV3PlusHead

BN = {'type': 'BN', 'requires_grad': True}


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def small_head(**kwargs) -> DeepLabV3PlusHead:
    """A narrow head: c1 of 16 channels, c4 of 32, 8-channel branches."""
    cfg = dict(
        in_channels=32,
        channels=8,
        c1_in_channels=16,
        c1_channels=4,
        num_classes=5,
        norm_cfg=BN,
        align_corners=True)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return DeepLabV3PlusHead(**cfg)


def backbone_features(c1_size=33, c4_size=33, seed=0):
    """Four feature maps as a ResNet gives; the head reads the first and last."""
    generator = torch.Generator().manual_seed(seed)
    c1 = torch.randn(2, 16, c1_size, c1_size, generator=generator)
    c4 = torch.randn(2, 32, c4_size, c4_size, generator=generator)
    unused = torch.randn(2, 3, 5, 5, generator=generator)
    return (c1, unused, unused, c4)


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('num_classes, expected',
                         [(21, 16_844_149), (19, 16_843_635), (81, 16_859_569)])
def test_parameter_count_matches_reference_decoder(num_classes, expected):
    head = MODELS.build(
        dict(
            type='DeepLabV3PlusHead',
            in_channels=2048,
            channels=256,
            c1_in_channels=256,
            c1_channels=48,
            num_classes=num_classes,
            norm_cfg=BN))
    assert num_parameters(head) == expected


def test_parameter_counting_on_mmseg_separable_head():
    head = MODELS.build(
        dict(
            type='DepthwiseSeparableASPPHead',
            in_channels=2048,
            in_index=3,
            channels=512,
            c1_in_channels=256,
            c1_channels=48,
            dilations=(1, 12, 24, 36),
            num_classes=21,
            norm_cfg=BN))
    assert num_parameters(head) == 17_698_949


def test_plain_aspp_with_given_dilations():
    head = small_head(dilations=(1, 12, 24, 36))
    convs = [branch.conv for branch in head.aspp_branches]
    assert [c.kernel_size for c in convs] == [(1, 1)] + [(3, 3)] * 3
    assert [c.dilation[0] for c in convs] == [1, 12, 24, 36]
    assert [c.padding[0] for c in convs] == [0, 12, 24, 36]
    assert all(c.groups == 1 for c in convs)
    assert head.aspp_project.conv.kernel_size == (1, 1)
    assert head.aspp_project.conv.in_channels == 5 * 8
    assert head.conv_seg.bias is not None


def test_no_dropout_anywhere():
    head = small_head()
    assert head.dropout is None
    dropout_types = nn.modules.dropout._DropoutNd
    assert not any(isinstance(m, dropout_types) for m in head.modules())


def test_forward_gives_logits_at_low_level_size():
    head = small_head()
    assert head(backbone_features()).shape == (2, 5, 33, 33)
    assert head(backbone_features(c4_size=9)).shape == (2, 5, 33, 33)


def test_forward_matches_decoder_written_out():
    head = small_head(align_corners=True).eval()
    c1, _, _, c4 = feats = backbone_features(c1_size=17, c4_size=9)

    def up(x, size):
        return F.interpolate(x, size=size, mode='bilinear', align_corners=True)

    pooled = up(head.image_pool(c4), c4.shape[2:])
    aspp = torch.cat([b(c4) for b in head.aspp_branches] + [pooled], dim=1)
    high = up(head.aspp_project(aspp), c1.shape[2:])
    fused = head.fuse(torch.cat([head.c1_reduce(c1), high], dim=1))
    expected = head.conv_seg(fused)
    torch.testing.assert_close(head(feats), expected)


def test_train_forward_is_deterministic_without_dropout():
    feats = backbone_features()
    head = small_head().train()
    for m in head.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    torch.testing.assert_close(head(feats), head(feats), rtol=0, atol=0)
    with_dropout = small_head(dropout_ratio=0.1).train()
    for m in with_dropout.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    assert not torch.equal(with_dropout(feats), with_dropout(feats))


def test_sync_bn_config_is_used():
    head = small_head(norm_cfg={'type': 'SyncBN', 'requires_grad': True})
    assert any(isinstance(m, nn.SyncBatchNorm) for m in head.modules())
    assert head.eval()(backbone_features()).shape == (2, 5, 33, 33)


def test_invalid_arguments_and_inputs_raise():
    with pytest.raises(ValueError, match='in_index'):
        small_head(in_index=3)
    with pytest.raises(ValueError, match='dilations'):
        small_head(dilations=(12, 24, 36))
    with pytest.raises(ValueError, match='input_transform'):
        small_head(input_transform='resize_concat')
    c1, _, _, c4 = backbone_features()
    with pytest.raises(ValueError, match='got 2 feature maps'):
        small_head()((c1, c4))
    assert small_head(in_index=(0, 1))((c1, c4)).shape == (2, 5, 33, 33)


def tiny_encoder_decoder() -> nn.Module:
    """ResNetV1c-18 at 8 base channels, output stride 8, no pretrained weights."""
    cfg = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor'),
        backbone=dict(
            type='ResNetV1c',
            depth=18,
            stem_channels=8,
            base_channels=8,
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4),
            out_indices=(0, 1, 2, 3),
            norm_cfg=BN,
            init_cfg=None),
        decode_head=dict(
            type='DeepLabV3PlusHead',
            in_channels=64,
            channels=16,
            c1_in_channels=8,
            c1_channels=4,
            dilations=(1, 2, 3, 4),
            num_classes=3,
            norm_cfg=BN,
            align_corners=True,
            loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))
    torch.manual_seed(0)
    return MODELS.build(cfg)


def test_trains_inside_encoder_decoder():
    model = tiny_encoder_decoder().train()
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(2, 3, 32, 32, generator=generator)
    samples = []
    for _ in range(2):
        label = torch.randint(0, 3, (1, 32, 32), generator=generator)
        label[:, :4] = 255
        samples.append(SegDataSample(gt_sem_seg=PixelData(data=label)))
    losses = model.loss(inputs, samples)
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    loss = losses['decode.loss_ce']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    for name, param in model.decode_head.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    before = model.decode_head.conv_seg.weight.detach().clone()
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    assert not torch.equal(model.decode_head.conv_seg.weight, before)
    with torch.no_grad():
        logits = model.eval()._forward(inputs)
    assert logits.shape == (2, 3, 8, 8)
