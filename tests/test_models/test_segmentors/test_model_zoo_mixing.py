"""CSL around every model family of mmseg 1.2.2's model zoo: the demo's
semi-supervised config (SemiSegmentor with CSLSelector, MultiBranch views,
MultiSourceSampler) with its segmentor replaced by one zoo config's model,
trained for 2 iterations on generated 64x64 data and validated, through the
dry-run machinery.

``FAMILIES`` names one config per family (the smallest backbone), and
``NOT_TRAINED`` the families CSL does not train, with the reason. The model
is adapted to the census only where 64x64 inputs require it (backbones that
size their position embeddings from ``img_size``, PSANet's attention mask
size) and to the demo's 4 classes. ``docs/zoo.md`` is rendered from these
tables (``python -m tests.test_models.test_segmentors.test_model_zoo_mixing
> docs/zoo.md``); a test keeps it current.
"""
import importlib
import math
from pathlib import Path
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import mmseg
import pytest
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

import mmseg_csl  # noqa: F401
from mmseg_csl.engine import dry_run, load_config, prepare_dry_run
from tests.tool_utils import REPO_ROOT

CSL_DEMO = str(REPO_ROOT / 'configs' / 'demo' /
               'csl_tiny-deeplabv3plus_1xb12-400it_shapes-64x64.py')
ZOO_DOC = REPO_ROOT / 'docs' / 'zoo.md'
NUM_CLASSES = 4  # the demo's shapes
SIZE = (64, 64)
# Optional packages of the test environment (tools/setup_env.sh installs the
# mmdet extra; mmpretrain needs a CPU torchvision, which PyPI does not have).
TEST_ENV_PACKAGES = ('mmdet', )


class Family(NamedTuple):
    """One family of the census: the config it trains (under mmseg's
    ``configs/``), what CSL trains in it, a change of the model config the
    census needs (beyond the input size and the classes), the optional
    packages it needs and its input size."""
    config: str
    trained: str
    adapt: Optional[Callable[[ConfigDict], None]] = None
    needs: Tuple[str, ...] = ()
    size: Tuple[int, int] = SIZE


def _psa_mask_size(segmentor: ConfigDict) -> None:
    # PSANet's attention mask covers the 1/8 feature map: 8x8 at 64x64.
    segmentor.decode_head.mask_size = (8, 8)


def _mask_class_weight(segmentor: ConfigDict) -> None:
    # one weight per class and the 'no object' class
    loss_cls = segmentor.decode_head.loss_cls
    loss_cls.class_weight = [1.0] * NUM_CLASSES + [loss_cls.class_weight[-1]]


SINGLE = 'one decode head'
FAMILIES: Dict[str, Family] = {
    'ann': Family('ann/ann_r50-d8_4xb4-80k_ade20k-512x512.py', SINGLE),
    'apcnet': Family('apcnet/apcnet_r50-d8_4xb4-80k_ade20k-512x512.py', SINGLE),
    'beit': Family('beit/beit-base_upernet_8xb2-160k_ade20k-640x640.py', SINGLE),
    'bisenetv1': Family(
        'bisenetv1/bisenetv1_r18-d32_4xb4-160k_cityscapes-1024x1024.py',
        'one decode head, 2 auxiliary heads'),
    'bisenetv2': Family(
        'bisenetv2/bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024.py',
        'one decode head, 4 auxiliary heads'),
    'ccnet': Family('ccnet/ccnet_r50-d8_4xb4-80k_ade20k-512x512.py', SINGLE),
    'cgnet': Family('cgnet/cgnet_fcn_4xb4-60k_cityscapes-680x680.py', SINGLE),
    'convnext': Family(
        'convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py',
        SINGLE, needs=('mmpretrain', )),
    'danet': Family(
        'danet/danet_r50-d8_4xb4-80k_ade20k-512x512.py',
        '3-output head: unsupervised loss on the PAM+CAM fusion it predicts'),
    'ddrnet': Family(
        'ddrnet/ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024.py',
        '2-output head: unsupervised loss on the final map it predicts'),
    'deeplabv3': Family(
        'deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py', SINGLE),
    'deeplabv3plus': Family(
        'deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py',
        SINGLE),
    'dmnet': Family('dmnet/dmnet_r50-d8_4xb4-80k_ade20k-512x512.py', SINGLE),
    'dnlnet': Family('dnlnet/dnl_r50-d8_4xb4-80k_ade20k-512x512.py', SINGLE),
    'dpt': Family('dpt/dpt_vit-b16_8xb2-160k_ade20k-512x512.py',
                  SINGLE + ' on (feature, class token) pairs'),
    'emanet': Family('emanet/emanet_r50-d8_4xb2-80k_cityscapes-769x769.py',
                     SINGLE),
    'encnet': Family(
        'encnet/encnet_r50-d8_4xb4-80k_ade20k-512x512.py',
        '2-output head: unsupervised loss on the map, not the SE vector'),
    'erfnet': Family('erfnet/erfnet_fcn_4xb4-160k_cityscapes-512x1024.py',
                     SINGLE),
    'fastfcn': Family(
        'fastfcn/fastfcn_r50-d32_jpu_psp_4xb4-80k_ade20k-512x512.py', SINGLE),
    'fastscnn': Family('fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py',
                       SINGLE),
    'fcn': Family('fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py', SINGLE),
    'gcnet': Family('gcnet/gcnet_r50-d8_4xb4-80k_ade20k-512x512.py', SINGLE),
    'hrnet': Family('hrnet/fcn_hr18s_4xb4-80k_ade20k-512x512.py', SINGLE),
    'icnet': Family('icnet/icnet_r18-d8_4xb2-80k_cityscapes-832x832.py',
                    SINGLE),
    'isanet': Family('isanet/isanet_r50-d8_4xb4-80k_ade20k-512x512.py',
                     SINGLE),
    'knet': Family(
        'knet/knet-s3_r50-d8_fcn_8xb2-adamw-80k_ade20k-512x512.py',
        'iterative head: unsupervised loss on the last stage it predicts'),
    'mae': Family('mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py',
                  SINGLE),
    'mask2former': Family(
        'mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
        'mask classification: per-pixel loss on its semantic output',
        _mask_class_weight, ('mmdet', )),
    'maskformer': Family(
        'maskformer/maskformer_r50-d32_8xb2-160k_ade20k-512x512.py',
        'mask classification: per-pixel loss on its semantic output',
        _mask_class_weight, ('mmdet', )),
    'mobilenet_v2': Family(
        'mobilenet_v2/mobilenet-v2-d8_fcn_4xb4-160k_ade20k-512x512.py',
        SINGLE),
    # LR-ASPP pools its 1/8 features with a 49x49 kernel: 400x400 input
    'mobilenet_v3': Family(
        'mobilenet_v3/mobilenet-v3-d8-s_lraspp_4xb4-320k_cityscapes-512x1024'
        '.py', SINGLE, size=(400, 400)),
    'nonlocal_net': Family(
        'nonlocal_net/nonlocal_r50-d8_4xb4-80k_ade20k-512x512.py', SINGLE),
    'ocrnet': Family(
        'ocrnet/ocrnet_hr18s_4xb4-80k_ade20k-512x512.py',
        'cascade: unsupervised loss on the OCR output, reaching the first '
        'stage through it'),
    'pidnet': Family(
        'pidnet/pidnet-s_2xb6-120k_1024x1024-cityscapes.py',
        '3-output head: unsupervised loss on the integral branch it predicts'),
    'point_rend': Family(
        'point_rend/pointrend_r50_4xb4-160k_ade20k-512x512.py',
        'cascade: unsupervised loss on the point-refined map inference '
        'predicts'),
    'poolformer': Family(
        'poolformer/fpn_poolformer_s12_8xb4-40k_ade20k-512x512.py',
        SINGLE, needs=('mmpretrain', )),
    'psanet': Family('psanet/psanet_r50-d8_4xb4-80k_ade20k-512x512.py',
                     SINGLE, _psa_mask_size),
    'pspnet': Family('pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
                     SINGLE),
    'resnest': Family(
        'resnest/resnest_s101-d8_fcn_4xb4-160k_ade20k-512x512.py', SINGLE),
    'segformer': Family(
        'segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py', SINGLE),
    'segmenter': Family(
        'segmenter/segmenter_vit-t_mask_8xb1-160k_ade20k-512x512.py', SINGLE),
    'segnext': Family(
        'segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py', SINGLE),
    'sem_fpn': Family('sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py', SINGLE),
    'setr': Family('setr/setr_vit-l_naive_8xb2-160k_ade20k-512x512.py',
                   SINGLE + ', 3 auxiliary heads'),
    'stdc': Family('stdc/stdc1_4xb12-80k_cityscapes-512x1024.py',
                   'one decode head, 3 auxiliary heads (one on boundaries)'),
    'swin': Family(
        'swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-'
        '512x512.py', SINGLE),
    'twins': Family(
        'twins/twins_svt-s_fpn_fpnhead_8xb4-80k_ade20k-512x512.py', SINGLE),
    'unet': Family('unet/unet-s5-d16_fcn_4xb4-40k_drive-64x64.py', SINGLE),
    'upernet': Family('upernet/upernet_r18_4xb4-80k_ade20k-512x512.py',
                      SINGLE),
    'vit': Family('vit/vit_deit-s16_upernet_8xb2-80k_ade20k-512x512.py',
                  SINGLE),
}
NOT_TRAINED = {
    'dsdl': 'dataset configs (DSDL data format), no model',
    'san': 'open-vocabulary MultimodalEncoderDecoder: its head classifies '
           'against CLIP text embeddings of the class names; SemiSegmentor '
           'wraps EncoderDecoder and CascadeEncoderDecoder (a clear '
           'TypeError at build time)',
    'vpd': 'DepthEstimator: predicts depth, to which class pseudo-labels do '
           'not apply (a clear TypeError at build time)',
}


def set_num_classes(node: Any, num_classes: int) -> None:
    """``num_classes`` of every head config nested in ``node``, but STDC's
    boundary head; class weights of the zoo dataset's classes are dropped
    (mask classification's mmdet losses get theirs from ``Family.adapt``)."""
    if isinstance(node, dict):
        if 'num_classes' in node and node.get('type') != 'STDCHead':
            node['num_classes'] = num_classes
        if isinstance(node.get('class_weight'), list) and \
                not str(node.get('type')).startswith('mmdet.'):
            node['class_weight'] = None
        for value in node.values():
            set_num_classes(value, num_classes)
    elif isinstance(node, (list, tuple)):
        for value in node:
            set_num_classes(value, num_classes)


def _resize_views(node: Any, size: Tuple[int, int]) -> None:
    """Every crop, resize scale and padding size of the demo's pipelines
    (64x64) becomes ``size``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ('crop_size', 'scale', 'size') and \
                    tuple(value or ()) == SIZE:
                node[key] = size
            else:
                _resize_views(value, size)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _resize_views(value, size)


def csl_around(family: Family) -> Config:
    """The CSL demo config with the zoo model as its segmentor (the family's
    input size, whole-image testing, the demo's classes)."""
    cfg = load_config(CSL_DEMO)
    if family.size != SIZE:
        _resize_views(cfg._cfg_dict, family.size)
    segmentor = load_config(f'mmseg::{family.config}').model
    segmentor.data_preprocessor.size = family.size
    segmentor.test_cfg = dict(segmentor.get('test_cfg') or {}, mode='whole')
    if 'img_size' in segmentor.backbone:
        segmentor.backbone.img_size = family.size
    set_num_classes(segmentor, NUM_CLASSES)
    if family.adapt is not None:
        family.adapt(segmentor)
    cfg.model.segmentor = segmentor
    cfg.model.data_preprocessor.data_preprocessor = segmentor.data_preprocessor
    return cfg


def _add_edge_maps(cfg: Config) -> None:
    """PIDNet's boundary loss needs ``gt_edge_map``: its GenerateEdge
    transform goes before the labeled views are packed."""
    labeled = cfg.train_dataloader.dataset.datasets[0].pipeline
    labeled.insert(len(labeled) - 1, dict(type='GenerateEdge', edge_width=4))


@pytest.mark.zoo
@pytest.mark.parametrize('name', list(FAMILIES))
def test_csl_trains_and_evaluates_a_zoo_family(name, tmp_path):
    family = FAMILIES[name]
    for package in family.needs:
        try:
            importlib.import_module(f'{package}.models')
        except ImportError as error:
            pytest.skip(f'{name} needs {package} ({error}): pip install '
                        f'"mmseg_csl[{package}]"')
    init_default_scope('mmseg')
    cfg = csl_around(family)
    cfg.update(work_dir=str(tmp_path / 'work'), log_level='WARNING')
    # shrink: the demo's batch of 4 labeled + 8 unlabeled becomes 1 + 2;
    # not for a family that needs larger inputs (shrinking scales them down)
    prepare_dry_run(cfg, str(tmp_path / 'data'), iters=2,
                    shrink=family.size == SIZE)
    if name == 'pidnet':
        _add_edge_maps(cfg)
    cfg.default_hooks.checkpoint = None
    report = dry_run(cfg)

    assert {'unsup.loss_s1', 'unsup.loss_s2', 'unsup.loss_fp'} <= \
        report.losses.keys()
    assert any(key.startswith('sup.decode') for key in report.losses)
    assert all(math.isfinite(value) for value in report.losses.values())
    assert report.losses['unsup.loss_s1'] > 0
    assert 0 <= report.metrics['mIoU'] <= 100


def _trained(family: Family) -> str:
    """The 'trained with CSL' cell of a family the census runs."""
    untested = [name for name in family.needs if name not in TEST_ENV_PACKAGES]
    if untested:
        return (f'not measured: needs {", ".join(untested)}, not in the test '
                'environment')
    return 'yes' + (f' (needs {", ".join(family.needs)})'
                    if family.needs else '')


def render_zoo_table() -> str:
    """``docs/zoo.md``: every family, what CSL trains in it or why not."""
    lines = [
        '# CSL in the mmseg model zoo',
        '',
        'Every model family of MMSegmentation 1.2.2 (the folders of its '
        '`configs/`), wrapped in `SemiSegmentor` as README.md\'s "Using CSL '
        'in your mmseg model" shows. The census test '
        '(`tests/test_models/test_segmentors/test_model_zoo_mixing.py`, '
        'marker `zoo`) trains one config of each family with CSL for 2 '
        'iterations on generated 64x64 images of 4 classes (400x400 for '
        'mobilenet_v3, whose LR-ASPP head pools 49x49) and validates '
        'it (8 min 22 s for the 48 families of the test environment on 2 '
        'CPU cores; `pytest -m "not zoo"` leaves it out); this table is '
        'rendered from its tables (`python -m '
        'tests.test_models.test_segmentors.test_model_zoo_mixing`).',
        '',
        'The unsupervised losses (strong views and perturbed features) '
        'always train the output the model predicts with; the supervised '
        'term is the model\'s own loss (every head, auxiliary heads and '
        'cascade stages included). `mmseg_csl/models/segmentors/'
        'decode_adapters.py` says which output, per head kind, and why.',
        '',
        'Optional packages: MaskFormer and Mask2Former need mmdet, ConvNeXt '
        'and PoolFormer mmpretrain: `pip install "mmseg_csl[mmdet]"`, '
        '`"mmseg_csl[mmpretrain]"` or `"mmseg_csl[zoo]"` for both. Without '
        'them `SemiSegmentor` stops at build time naming the missing '
        'package. mmpretrain imports torchvision, which must be the build '
        'of the installed torch; PyPI has no CPU build, so the CPU test '
        'environment has mmdet only and the census skips the mmpretrain '
        'families there, saying why.',
        '',
        '| family | config | trained with CSL | how / why not |',
        '| --- | --- | --- | --- |',
    ]
    rows = {
        name: f'| {name} | `{family.config}` | {_trained(family)} | '
        f'{family.trained} |'
        for name, family in FAMILIES.items()
    }
    rows.update({name: f'| {name} | - | no | {reason} |'
                 for name, reason in NOT_TRAINED.items()})
    lines += [rows[name] for name in sorted(rows)]
    return '\n'.join(lines) + '\n'


def test_every_mmseg_family_is_in_the_census():
    configs = Path(mmseg.__file__).parent / '.mim' / 'configs'
    families = {path.name for path in configs.iterdir()
                if path.is_dir() and not path.name.startswith('_')}
    assert families == FAMILIES.keys() | NOT_TRAINED.keys()
    assert not FAMILIES.keys() & NOT_TRAINED.keys()


def test_zoo_doc_is_current():
    assert ZOO_DOC.read_text() == render_zoo_table()


if __name__ == '__main__':
    print(render_zoo_table(), end='')
