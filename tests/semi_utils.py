"""A tiny SemiSegmentor, preprocessed multi-branch batches and a Runner that
trains on them, for tests."""
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import torch
from mmengine.config import ConfigDict
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch.utils.data import DataLoader

NUM_CLASSES = 3
SIZE = 32


def tiny_segmentor_cfg() -> ConfigDict:
    """A plain mmseg EncoderDecoder: two-stage ResNet-18 with 8 base
    channels (features at strides 4 and 8), FCN decode and auxiliary heads,
    no pretrained weights. A ConfigDict, as a config file gives."""
    norm_cfg = {'type': 'BN', 'requires_grad': True}

    def fcn_head(in_channels: int, in_index: int, loss_weight: float) -> dict:
        return {
            'type': 'FCNHead',
            'in_channels': in_channels,
            'in_index': in_index,
            'channels': 8,
            'num_convs': 1,
            'concat_input': False,
            'dropout_ratio': 0.0,
            'num_classes': NUM_CLASSES,
            'norm_cfg': norm_cfg,
            'align_corners': False,
            'loss_decode': {
                'type': 'CrossEntropyLoss',
                'loss_weight': loss_weight,
            },
        }

    return ConfigDict(
        type='EncoderDecoder',
        backbone={
            'type': 'ResNetV1c',
            'depth': 18,
            'num_stages': 2,
            'out_indices': (0, 1),
            'strides': (1, 2),
            'dilations': (1, 1),
            'stem_channels': 8,
            'base_channels': 8,
            'norm_cfg': norm_cfg,
            'init_cfg': None,
        },
        decode_head=fcn_head(16, 1, 1.0),
        auxiliary_head=fcn_head(8, 0, 0.4),
        train_cfg={},
        test_cfg={'mode': 'whole'})


# The semi_train_cfg of each reference run (configs/_base_/semi/methods.py)
# and the masked_views of its batches (make_semi_batch) for the trained and
# the CutMix-source halves of 2 + 2 unlabeled samples.
REFERENCE_METHODS = {
    'csl': ({'selector': {'type': 'CSLSelector', 'variant': 'release'}}, None),
    'csl-masking': ({'selector': {'type': 'CSLSelector', 'variant': 'masking'},
                     'cutmix': {'views': ('strong1', )}}, [True, False, True, False]),
    'unimatch': ({'selector': {'type': 'ThresholdSelector', 'threshold': 0.95},
                  'bn_running_stats': 'unimatch'}, None),
}


def semi_segmentor_cfg(semi_test_cfg: Optional[dict] = None,
                       **semi_train_cfg) -> ConfigDict:
    """SemiSegmentor around :func:`tiny_segmentor_cfg`; the batches of
    :func:`make_semi_batch` are already preprocessed, so the data
    preprocessor only moves them to the device."""
    semi_train_cfg.setdefault('masking', {'block_size': 8, 'ratio': 0.7})
    return ConfigDict(
        type='SemiSegmentor',
        segmentor=tiny_segmentor_cfg(),
        semi_train_cfg=semi_train_cfg,
        semi_test_cfg=semi_test_cfg,
        data_preprocessor={'type': 'BaseDataPreprocessor'})


def _sample(img_shape: Sequence[int], size: int, gt: Optional[torch.Tensor],
            **metainfo) -> SegDataSample:
    sample = SegDataSample(
        metainfo=dict(
            img_shape=tuple(img_shape),
            ori_shape=tuple(img_shape),
            pad_shape=(size, size),
            padding_size=[0, size - img_shape[1], 0, size - img_shape[0]],
            **metainfo))
    if gt is not None:
        sample.gt_sem_seg = PixelData(data=gt)
    return sample


def make_semi_batch(num_sup: int = 2,
                    num_unsup: int = 2,
                    size: int = SIZE,
                    masked_views: Optional[Sequence[bool]] = None,
                    unsup_img_shapes: Optional[Sequence[tuple]] = None,
                    weak_gt: bool = False,
                    seed: int = 0) -> Dict[str, dict]:
    """A preprocessed multi-branch batch: ``dict(inputs=..., data_samples=...)``.

    ``sup`` holds ``num_sup`` labeled samples; the unlabeled branches hold
    ``2 * num_unsup`` (trained half, then the CutMix sources). Images are
    normal noise (no exact zeros); ``masked_views`` gives ``masked_view`` of
    each strong-2 sample, as a masked-view branch does (default: no such
    metainfo, an ordinary strong branch); ``unsup_img_shapes`` the
    unpadded size of each unlabeled sample (default the full size).
    """
    generator = torch.Generator().manual_seed(seed)
    num_u = 2 * num_unsup
    unsup_img_shapes = unsup_img_shapes or [(size, size)] * num_u

    def images(count: int) -> torch.Tensor:
        return torch.randn(count, 3, size, size, generator=generator)

    def label() -> torch.Tensor:
        return torch.randint(
            0, NUM_CLASSES, (1, size, size), generator=generator)

    inputs = {
        'sup': images(num_sup),
        'unsup_weak': images(num_u),
        'unsup_strong1': images(num_u),
        'unsup_strong2': images(num_u),
    }
    data_samples = {
        'sup': [_sample((size, size), size, label()) for _ in range(num_sup)],
        'unsup_weak': [
            _sample(shape, size, label() if weak_gt else None)
            for shape in unsup_img_shapes
        ],
        'unsup_strong1': [_sample(shape, size, None) for shape in unsup_img_shapes],
        'unsup_strong2': [
            _sample(shape, size, None, **({} if masked_views is None else {
                'masked_view': masked_views[index]
            })) for index, shape in enumerate(unsup_img_shapes)
        ],
    }
    return {'inputs': inputs, 'data_samples': data_samples}


# Parameters at both ends of the wrapped segmentor of semi_segmentor_cfg.
WATCHED_PARAMETERS = ('segmentor.backbone.stem.0.weight',
                      'segmentor.decode_head.conv_seg.weight')


def training_step(model: torch.nn.Module, batch: Dict[str, dict],
                  dtype: Optional[torch.dtype] = None
                  ) -> Tuple[Dict[str, torch.Tensor], Set[torch.dtype]]:
    """One training step of ``model`` without the optimizer, as mmengine's
    ``train_step`` runs it: the data preprocessor (which moves ``batch`` to
    the model's device) and ``model.loss`` under ``torch.autocast`` of that
    device in ``dtype`` (None: no autocast), then the backward of the summed
    losses outside autocast.

    Returns:
        tuple: the losses, and the dtypes of the decode head's logits.
    """
    device_type = next(model.parameters()).device.type
    logits_dtypes = set()
    hook = model.segmentor.decode_head.conv_seg.register_forward_hook(
        lambda module, inputs, output: logits_dtypes.add(output.dtype))
    try:
        data = model.data_preprocessor(batch, True)
        with torch.autocast(device_type, dtype=dtype or torch.bfloat16,
                            enabled=dtype is not None):
            losses = model.loss(**data)
    finally:
        hook.remove()
    model.zero_grad()
    model.parse_losses(losses)[0].backward()
    return losses, logits_dtypes


def assert_finite_and_trains(model: torch.nn.Module,
                             losses: Dict[str, torch.Tensor]) -> None:
    """Every loss a finite float32 scalar; after :func:`training_step`, the
    gradients of :data:`WATCHED_PARAMETERS` finite and not all zero."""
    for name, value in losses.items():
        assert value.dtype == torch.float32, (name, value.dtype)
        assert torch.isfinite(value).all(), (name, value)
    params = dict(model.named_parameters())
    for name in WATCHED_PARAMETERS:
        grad = params[name].grad
        assert grad is not None and torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


class OutputRecorder(Hook):
    """Keeps the outputs (logged losses) of every training iteration."""

    def __init__(self) -> None:
        self.outputs: List[dict] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.outputs.append(outputs)


def amp_training_run(work_dir: Path, dtype: str, max_iters: int = 2) -> dict:
    """Train the CSL release's tiny SemiSegmentor for ``max_iters``
    iterations under mmengine's ``AmpOptimWrapper`` in ``dtype``, as the
    paper configs do (``mmseg_csl.engine.precision.set_precision``), on the
    GPU if there is one.

    Returns:
        dict: ``outputs`` (each iteration's logged losses), ``logits_dtypes``
        (of the decode head), ``wrapper`` (the optim wrapper's type name) and
        ``moved`` (whether the first backbone weights changed).
    """
    from mmengine.config import Config

    from mmseg_csl.engine.precision import set_precision
    optim = Config({'optim_wrapper': {
        'optimizer': {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9}}})
    set_precision(optim, dtype)
    torch.manual_seed(0)
    model = MODELS.build(semi_segmentor_cfg(**REFERENCE_METHODS['csl'][0]))
    logits_dtypes = set()
    model.segmentor.decode_head.conv_seg.register_forward_hook(
        lambda module, inputs, output: logits_dtypes.add(output.dtype))
    before = model.segmentor.backbone.stem[0].weight.detach().clone()
    recorder = OutputRecorder()
    runner = semi_runner(work_dir, model, [recorder], max_iters=max_iters,
                         optim_wrapper=optim.optim_wrapper.to_dict())
    runner.train()
    weight = model.segmentor.backbone.stem[0].weight.detach()
    return {'outputs': recorder.outputs, 'logits_dtypes': logits_dtypes,
            'wrapper': type(runner.optim_wrapper).__name__,
            'moved': not torch.equal(weight.cpu(), before)}


def _first(items: list):
    return items[0]


def semi_runner(work_dir: Path,
                model: dict,
                custom_hooks: List,
                max_iters: int = 3,
                weak_gt: bool = False,
                visualizer: Optional[dict] = None,
                optim_wrapper: Optional[dict] = None) -> Runner:
    """An iteration-based Runner training ``model`` on ``max_iters``
    batches of :func:`make_semi_batch`, logging every iteration and saving
    no checkpoint, with ``optim_wrapper`` (default: SGD, lr 0.01, momentum
    0.9). The experiment is named after ``work_dir`` (a pytest
    ``tmp_path``, unique per test), as mmengine keeps one message hub and
    one visualizer per experiment name."""
    batches = [
        make_semi_batch(weak_gt=weak_gt, seed=seed)
        for seed in range(max_iters)
    ]
    return Runner(
        model=model,
        work_dir=str(work_dir),
        experiment_name=work_dir.name,
        train_dataloader=DataLoader(batches, batch_size=1, collate_fn=_first),
        optim_wrapper=optim_wrapper or {
            'optimizer': {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9}
        },
        train_cfg={'by_epoch': False, 'max_iters': max_iters},
        default_hooks={
            'checkpoint': None,
            'logger': {'type': 'LoggerHook', 'interval': 1},
        },
        custom_hooks=custom_hooks,
        log_processor={'by_epoch': False},
        visualizer=visualizer,
        default_scope='mmseg',
        randomness={'seed': 0})
