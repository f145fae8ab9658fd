"""A tiny SemiSegmentor, preprocessed multi-branch batches and a Runner that
trains on them, for tests."""
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import ConfigDict
from mmengine.runner import Runner
from mmengine.structures import PixelData
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


def _first(items: list):
    return items[0]


def semi_runner(work_dir: Path,
                model: dict,
                custom_hooks: List,
                max_iters: int = 3,
                weak_gt: bool = False,
                visualizer: Optional[dict] = None) -> Runner:
    """An iteration-based Runner training ``model`` on ``max_iters``
    batches of :func:`make_semi_batch`, logging every iteration and saving
    no checkpoint. The experiment is named after ``work_dir`` (a pytest
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
        optim_wrapper={'optimizer': {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9}},
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
