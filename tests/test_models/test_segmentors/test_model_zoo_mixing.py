"""CSL around models of mmseg's model zoo: the demo's semi-supervised config
(SemiSegmentor with CSLSelector, MultiBranch views, MultiSourceSampler) with
its segmentor replaced by a zoo config's model, trained for 2 iterations on
generated 64x64 data and validated, through the dry-run machinery."""
import math
from typing import Any

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseg_csl  # noqa: F401
from mmseg_csl.engine import dry_run, load_config, prepare_dry_run
from tests.tool_utils import REPO_ROOT

CSL_DEMO = str(REPO_ROOT / 'configs' / 'demo' /
               'csl_tiny-deeplabv3plus_1xb12-400it_shapes-64x64.py')
NUM_CLASSES = 4  # the demo's shapes
# Zoo configs with small backbones (ResNet-18 rather than -50/101, MiT-B0);
# BiSeNetV2 and STDC bring several auxiliary heads, STDC a boundary head
# (STDCHead, 2 classes, which ClassCountCheckHook leaves out).
ZOO = {
    'fcn': 'fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    'pspnet': 'pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    'deeplabv3plus': 'deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-'
                     '512x1024.py',
    'segformer': 'segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    'bisenetv2': 'bisenetv2/bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024.py',
    'unet': 'unet/unet-s5-d16_fcn_4xb4-40k_drive-64x64.py',
    'stdc': 'stdc/stdc1_4xb12-80k_cityscapes-512x1024.py',
}


def set_num_classes(node: Any, num_classes: int) -> None:
    """``num_classes`` of every head config nested in ``node``, but STDC's
    boundary head."""
    if isinstance(node, dict):
        if 'num_classes' in node and node.get('type') != 'STDCHead':
            node['num_classes'] = num_classes
        for value in node.values():
            set_num_classes(value, num_classes)
    elif isinstance(node, (list, tuple)):
        for value in node:
            set_num_classes(value, num_classes)


def csl_around(zoo_config: str) -> Config:
    """The CSL demo config with the zoo model as its segmentor (64x64 input,
    whole-image testing, the demo's classes)."""
    cfg = load_config(CSL_DEMO)
    segmentor = load_config(f'mmseg::{zoo_config}').model
    segmentor.data_preprocessor.size = (64, 64)
    segmentor.test_cfg = dict(mode='whole')
    set_num_classes(segmentor, NUM_CLASSES)
    cfg.model.segmentor = segmentor
    cfg.model.data_preprocessor.data_preprocessor = segmentor.data_preprocessor
    return cfg


@pytest.mark.parametrize('name', list(ZOO))
def test_csl_trains_and_evaluates_a_zoo_model(name, tmp_path):
    init_default_scope('mmseg')
    cfg = csl_around(ZOO[name])
    cfg.update(work_dir=str(tmp_path / 'work'), log_level='WARNING')
    # shrink: the demo's batch of 4 labeled + 8 unlabeled becomes 1 + 2
    prepare_dry_run(cfg, str(tmp_path / 'data'), iters=2, shrink=True)
    cfg.default_hooks.checkpoint = None
    report = dry_run(cfg)

    assert {'sup.decode.loss_ce', 'unsup.loss_s1', 'unsup.loss_s2',
            'unsup.loss_fp'} <= report.losses.keys()
    assert all(math.isfinite(value) for value in report.losses.values())
    assert report.losses['unsup.loss_s1'] > 0
    assert 0 <= report.metrics['mIoU'] <= 100
