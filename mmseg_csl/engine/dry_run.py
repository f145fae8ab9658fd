"""Dry runs: any config trained for a few iterations on generated data.

``tools/dry_run.py`` is the check to run on a laptop before a cluster
submission. :func:`prepare_dry_run` keeps a config's model, pipelines,
samplers and schedule, and changes only what a laptop lacks: the data (every
dataset of the train, val and test dataloaders becomes a ``BaseSegDataset`` of
generated images of the crop size, with the original classes), pretrained
weights (none are downloaded), SyncBN (one process: BN), mixed precision where
there is no GPU (float32) and the length of the run; with ``shrink``, also large
crops and batches. :func:`dry_run` then
trains and validates and returns a :class:`DryRunReport`.
"""
import inspect
import logging
import os.path as osp
import time
import uuid
from numbers import Number
from typing import Any, Dict, Iterator, NamedTuple, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import DATASETS, RUNNERS

from ..datasets.samplers.multi_source_sampler import split_batch
from ..datasets.unlabeled_image_dataset import UnlabeledImageDataset
from ..utils import config_dicts
from .cpu_distributed import replace_sync_bn
from .precision import FLOAT32, set_precision, training_precision
from .registry_lookup import registered_class
from .semi_config import expand_semi_config

# Images of a generated validation or test dataset; a training dataset gets
# enough for its batches of the whole run (an epoch-based sampler then needs
# no second epoch).
IMAGES_PER_DATASET = 2
SHRUNK_MAX_SIDE = 256
SHRUNK_MAX_BATCH = 2
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Keys of transforms that hold an image size (mmcv's and mmseg's resizes, crops,
# pads and multi-scale augmentations).
PIPELINE_SIZE_KEYS = ('scale', 'scales', 'img_scale', 'crop_size', 'size')
# What a generated dataset keeps of the dataset it stands for.
KEPT_DATASET_KEYS = ('pipeline', 'ignore_index', 'test_mode', '_scope_')
# Keys under which a dataset wrapper holds one inner dataset config
# (RepeatDataset and the like; SemiSupervisedDataset).
INNER_DATASET_KEYS = ('dataset', 'labeled', 'unlabeled')
# Colours of the generated images of an unlabeled dataset (it has no classes).
UNLABELED_COLOURS = 8


class DryRunReport(NamedTuple):
    """Outcome of :func:`dry_run`: the loss terms logged by the last training
    iteration, the metrics of the validation (empty without one) and the
    wall time of the whole run in seconds (model building included)."""
    iters: int
    losses: Dict[str, float]
    metrics: Dict[str, float]
    wall_s: float

    def __str__(self) -> str:
        losses = ', '.join(f'{key}={value:.4f}' for key, value in self.losses.items())
        metrics = ', '.join(f'{key}={value:.2f}' for key, value in self.metrics.items())
        return '\n'.join([
            f'training: {self.iters} iterations; losses of the last one: {losses}',
            f'validation: {metrics or "none (the config has no val_dataloader)"}',
            f'wall time: {self.wall_s:.1f} s',
        ])


def load_config(path: str) -> Config:
    """``Config.fromfile`` that also takes ``package::path`` names of installed
    packages' configs (e.g. ``mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py``),
    resolved as mmengine resolves them in ``_base_``."""
    if '::' in path:
        path, _ = Config._get_cfg_path(path, '')
    return Config.fromfile(path)


def prepare_dry_run(cfg: Config, data_root: str, iters: int = 2,
                    shrink: bool = False,
                    precision: Optional[str] = None) -> Tuple[int, int]:
    """Rewrite ``cfg`` in place for a dry run and write its data under ``data_root``.

    - a ``semi`` key is expanded first (:func:`expand_semi_config`);
    - with ``shrink``, :func:`shrink_config`;
    - every dataset of the train, val and test dataloaders, inside
      ``ConcatDataset`` and other wrappers too, becomes a ``BaseSegDataset``
      of generated images of the crop size (:func:`synthetic_dataset`), each
      in a folder of its own, so a labeled + unlabeled split stays two
      datasets; a training dataset holds ``batch_size * iters`` images;
    - ``init_cfg`` and ``pretrained`` become None everywhere in the model,
      ``load_from`` None, ``resume`` False; SyncBN becomes BN;
    - it trains in ``precision`` (``'float32'``, ``'bfloat16'`` or
      ``'float16'``, see :func:`~mmseg_csl.engine.precision.set_precision`);
      None keeps the config's, except that mixed precision becomes float32
      on a machine without a GPU;
    - training: ``iters`` iterations (``IterBasedTrainLoop``), then one
      validation; a log line every iteration, a checkpoint after the last;
    - ``ClassCountCheckHook`` is added unless present, so a model that
      predicts other classes than the datasets have fails before training;
    - a fresh experiment name, which the visualizer takes too.

    Returns:
        tuple[int, int]: the crop size (height, width) of the generated images.
    """
    if iters < 1:
        raise ValueError(f'a dry run needs at least 1 iteration, got {iters}')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    expand_semi_config(cfg)
    if shrink:
        shrink_config(cfg)
    size = crop_size(cfg)
    for loader in DATALOADERS:
        if cfg.get(loader):
            num_images = IMAGES_PER_DATASET
            if loader == 'train_dataloader':
                num_images = max(num_images, cfg[loader].get('batch_size', 1) * iters)
            cfg[loader]['dataset'] = synthetic_dataset(
                cfg[loader]['dataset'], osp.join(data_root, loader), size, num_images)
    drop_pretrained_weights(cfg.model)
    replace_sync_bn(cfg.model)
    _set_dry_run_precision(cfg, precision)
    cfg.update(sync_bn=None, load_from=None, resume=False,
               experiment_name=f'dry_run_{uuid.uuid4().hex[:8]}')
    if cfg.get('visualizer'):
        cfg.visualizer.pop('name', None)
    _short_schedule(cfg, iters)
    return size


def _set_dry_run_precision(cfg: Config, precision: Optional[str]) -> None:
    """``precision`` if given; else the config's, float32 for mixed precision
    without a GPU (mmengine's AmpOptimWrapper needs one)."""
    if precision is None:
        precision = training_precision(cfg)
        if precision == FLOAT32:
            return
        if not torch.cuda.is_available():
            print_log(f'No GPU: the dry run trains in float32, not in the '
                      f'{precision} mixed precision of the config.',
                      logger='current', level=logging.WARNING)
            precision = FLOAT32
    set_precision(cfg, precision)


def _short_schedule(cfg: Config, iters: int) -> None:
    """``iters`` training iterations, one validation, a log line each
    iteration, a checkpoint at the end, and ``ClassCountCheckHook``."""
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    hooks = cfg.get('default_hooks') or {}
    if hooks.get('logger'):
        hooks['logger']['interval'] = 1
    if hooks.get('checkpoint'):
        hooks['checkpoint'].update(interval=iters, by_epoch=False)
    custom_hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(hook, dict) and hook.get('type') == 'ClassCountCheckHook'
               for hook in custom_hooks):
        custom_hooks.append(dict(type='ClassCountCheckHook'))
    cfg.custom_hooks = custom_hooks


class _ReportHook(Hook):
    """Keeps the loss terms of the last training iteration and the metrics of
    the last validation."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.losses: Dict[str, float] = {}
        self.metrics: Dict[str, float] = {}

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        self.losses = {name: float(value) for name, value in (outputs or {}).items()
                       if 'loss' in name}

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        self.metrics = {name: float(value) for name, value in (metrics or {}).items()
                        if isinstance(value, Number)}


def dry_run(cfg: Config) -> DryRunReport:
    """Build the Runner of a :func:`prepare_dry_run` config, train (and so
    validate) and report."""
    start = time.perf_counter()
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    report = _ReportHook()
    runner.register_hook(report)
    runner.train()
    return DryRunReport(cfg.train_cfg.max_iters, report.losses, report.metrics,
                        time.perf_counter() - start)


def crop_size(cfg: Config) -> Tuple[int, int]:
    """(height, width) of the training crops: the first ``crop_size`` in the
    training dataloader (``RandomCrop``), else the model's data preprocessor
    ``size``, else the config's ``crop_size`` variable."""
    candidates = (
        next(_values(cfg.get('train_dataloader'), 'crop_size'), None),
        next(_values(cfg.get('model', {}).get('data_preprocessor'), 'size'), None),
        cfg.get('crop_size'),
    )
    size = next((value for value in candidates if value is not None), None)
    if size is None:
        raise ValueError(
            'cannot tell the crop size of this config: no `crop_size` in the '
            'training pipeline, no `size` in model.data_preprocessor and no '
            '`crop_size` variable; set one of them (e.g. '
            '--cfg-options crop_size="(512,512)")')
    return _pair(size)


def synthetic_dataset(dataset: dict, root: str, size: Tuple[int, int],
                      num_images: int = IMAGES_PER_DATASET, seed: int = 0) -> dict:
    """A dataset config like ``dataset`` that reads generated images instead.

    A wrapper (a dict with ``datasets``, like ``ConcatDataset``, or with
    dataset configs under ``INNER_DATASET_KEYS``, like ``RepeatDataset``'s
    ``dataset`` and ``SemiSupervisedDataset``'s ``labeled`` and
    ``unlabeled``) keeps its other keys, and each inner dataset is replaced
    under ``root/<index>``. An ``UnlabeledImageDataset`` reads
    ``num_images`` generated images (no label maps) with its pipeline. Any
    other dataset becomes a ``BaseSegDataset`` of ``num_images`` images of
    ``size`` written under ``root`` (:func:`write_synthetic_dataset`) with the
    original classes and palette (:func:`dataset_metainfo`),
    ``reduce_zero_label`` (the config's, else the dataset type's default),
    pipeline, ``ignore_index`` and ``test_mode``.
    """
    if 'datasets' in dataset:
        return dict(dataset, datasets=[
            synthetic_dataset(inner, osp.join(root, str(index)), size, num_images,
                              seed + index)
            for index, inner in enumerate(dataset['datasets'])])
    inner_keys = [key for key in INNER_DATASET_KEYS
                  if isinstance(dataset.get(key), dict)]
    if inner_keys:
        return dict(dataset, **{
            key: synthetic_dataset(dataset[key], osp.join(root, str(index)), size,
                                   num_images, seed + index)
            for index, key in enumerate(inner_keys)})
    dataset_class = registered_class(dataset, DATASETS, 'dataset')
    if issubclass(dataset_class, UnlabeledImageDataset):
        write_synthetic_dataset(root, num_images, size, UNLABELED_COLOURS,
                                seed=seed)
        return dict(type='UnlabeledImageDataset', data_root=osp.join(root, 'img_dir'),
                    pipeline=dataset.get('pipeline', []))
    metainfo = dataset_metainfo(dataset, dataset_class)
    classes = metainfo.get('classes')
    if not classes:
        raise ValueError(f'{dataset_class.__name__} has no classes in its metainfo: '
                         'a dry run needs them to generate label maps')
    reduce_zero_label = dataset.get(
        'reduce_zero_label',
        _default_argument(dataset_class, 'reduce_zero_label', False))
    write_synthetic_dataset(root, num_images, size, len(classes),
                            reduce_zero_label, seed)
    new_metainfo = {'classes': tuple(classes)}
    palette = metainfo.get('palette')
    if palette is not None and len(palette) == len(classes):
        new_metainfo['palette'] = [list(colour) for colour in palette]
    kept = {key: dataset[key] for key in KEPT_DATASET_KEYS if key in dataset}
    kept.setdefault('pipeline', [])
    return dict(
        type='BaseSegDataset',
        data_root=root,
        data_prefix=dict(img_path='img_dir', seg_map_path='ann_dir'),
        img_suffix='.png',
        seg_map_suffix='.png',
        metainfo=new_metainfo,
        reduce_zero_label=reduce_zero_label,
        **kept)


def dataset_metainfo(dataset: dict, dataset_class: type) -> dict:
    """The metainfo a dataset config gets: its type's ``METAINFO`` (or that of
    the type named by ``metainfo_from``, as ``UniMatchSplitDataset`` takes
    it), updated by the config's ``metainfo``."""
    metainfo = dict(getattr(dataset_class, 'METAINFO', {}))
    source = dataset.get('metainfo_from')
    if source is not None:
        metainfo.update(
            registered_class(dict(type=source), DATASETS, 'dataset').METAINFO)
    metainfo.update(dataset.get('metainfo') or {})
    return metainfo


def write_synthetic_dataset(root: str, num_images: int, size: Tuple[int, int],
                            num_classes: int, reduce_zero_label: bool = False,
                            seed: int = 0) -> None:
    """Write ``root/img_dir/<i>.png`` (BGR) and ``root/ann_dir/<i>.png``.

    A label map (``size`` = (H, W)) is a grid of square blocks, a quarter of
    the shorter side wide, of random classes; the image paints each class in
    a colour of its own plus noise, so a model can learn something. Label
    values are the class indices ``0 .. num_classes - 1``, shifted by one with
    ``reduce_zero_label`` (whose loader maps them back, 0 being ignored).
    """
    rng = np.random.default_rng(seed)
    height, width = size
    colours = rng.uniform(0, 255, (num_classes, 3))
    block = max(1, min(height, width) // 4)
    grid = (-(-height // block), -(-width // block))
    dtype = np.uint8 if num_classes + reduce_zero_label <= 256 else np.uint16
    for index in range(num_images):
        label = rng.integers(0, num_classes, grid)
        label = label.repeat(block, 0).repeat(block, 1)[:height, :width]
        image = colours[label] + rng.normal(0, 10, (height, width, 3))
        name = f'{index:03d}.png'
        mmcv.imwrite(np.clip(image, 0, 255).astype(np.uint8),
                     osp.join(root, 'img_dir', name))
        mmcv.imwrite((label + reduce_zero_label).astype(dtype),
                     osp.join(root, 'ann_dir', name))


def drop_pretrained_weights(node: Any) -> None:
    """Set every ``init_cfg`` and ``pretrained`` nested in ``node`` to None."""
    for config in config_dicts(node):
        for key in ('init_cfg', 'pretrained'):
            if key in config:
                config[key] = None


def shrink_config(cfg: Config, max_side: int = SHRUNK_MAX_SIDE,
                  max_batch: int = SHRUNK_MAX_BATCH,
                  model_update: Optional[Dict[str, dict]] = None,
                  load_in_main_process: bool = False) -> None:
    """Fit a config made for GPUs to a laptop, in place.

    If the crop's longer side exceeds ``max_side``, every image size scales by
    ``max_side / longer side``: the sizes in all dataloader pipelines
    (resize scales, crop and pad sizes), the data preprocessors' ``size``,
    the ``crop_size`` and ``stride`` of sliding-window testing and the
    ``crop_size`` variable. Batches shrink to at most ``max_batch`` images;
    a ``MultiSourceSampler`` batch to :func:`smallest_multi_source_batch`.

    Args:
        model_update: part name -> keys updated into that part of the model
            (of the segmentor a ``SemiSegmentor`` wraps), e.g. a smaller
            ``backbone`` and ``decode_head`` for a CPU.
        load_in_main_process: the dataloaders load in the main process
            (no workers), as a profile or a one-core machine wants.
    """
    if model_update:
        model = cfg.model.segmentor if cfg.model.type == 'SemiSegmentor' else cfg.model
        for part, update in model_update.items():
            model[part].update(update)
    factor = max_side / max(crop_size(cfg))
    if factor < 1:
        for loader in DATALOADERS:
            if cfg.get(loader):
                _scale_sizes(cfg[loader]['dataset'], PIPELINE_SIZE_KEYS, factor)
        _scale_model_sizes(cfg.model, factor)
        if cfg.get('crop_size') is not None:
            cfg.crop_size = _scaled(cfg.crop_size, factor)
    for loader in DATALOADERS:
        if cfg.get(loader):
            _shrink_batch(cfg[loader], max_batch)
            if load_in_main_process:
                cfg[loader].update(num_workers=0, persistent_workers=False)


def smallest_multi_source_batch(batch_size: int,
                                source_ratio: Sequence[float]) -> int:
    """The smallest batch size whose ``split_batch`` is that of ``batch_size``
    divided by a whole number, with an unchanged parity for every source after
    the first (``SemiSegmentor`` splits the unlabeled samples in pairs), and at
    least 4 samples of such a source where it had as many (``SemiSegmentor``
    forwards the 2 CutMix sources alone in train mode, and batch norm needs
    more than one sample)."""
    counts = split_batch(batch_size, source_ratio)
    for size in range(1, batch_size + 1):
        if batch_size % size:
            continue
        split = split_batch(size, source_ratio)
        if ([count * (batch_size // size) for count in split] == counts
                and all((a - b) % 2 == 0 and a >= min(b, 4)
                        for a, b in zip(split[1:], counts[1:]))):
            return size
    return batch_size


def _shrink_batch(loader: dict, max_batch: int) -> None:
    sampler = loader.get('sampler') or {}
    if sampler.get('type') == 'MultiSourceSampler':
        size = smallest_multi_source_batch(sampler['batch_size'],
                                           sampler['source_ratio'])
        sampler['batch_size'] = loader['batch_size'] = size
    elif loader.get('batch_size', 1) > max_batch:
        loader['batch_size'] = max_batch


def _scale_model_sizes(node: Any, factor: float) -> None:
    """Scale the data preprocessors' ``size`` and the sliding-window
    ``crop_size`` and ``stride`` of test configs nested in a model config."""
    sizes = {'data_preprocessor': ('size', ), 'test_cfg': ('crop_size', 'stride')}
    for config in config_dicts(node, enter=lambda key, _: key not in sizes):
        for key, keys in sizes.items():
            if key in config:
                _scale_sizes(config[key], keys, factor)


def _scale_sizes(node: Any, keys: Sequence[str], factor: float) -> None:
    """Scale the values of ``keys`` in the dicts nested in ``node``."""
    for config in config_dicts(node, enter=lambda key, _: key not in keys):
        for key in keys:
            if key in config:
                config[key] = _scaled(config[key], factor)


def _scaled(value: Any, factor: float) -> Any:
    """A size (number, pair, list of pairs) times ``factor``, whole numbers
    staying whole and at least 1."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return max(1, round(value * factor))
    if isinstance(value, Number):
        return value * factor
    if isinstance(value, (list, tuple)):
        return type(value)(_scaled(item, factor) for item in value)
    return value


def _values(node: Any, key: str) -> Iterator[Any]:
    """Every value of ``key`` in the dicts nested in ``node``, depth first."""
    for config in config_dicts(node):
        if key in config:
            yield config[key]


def _pair(size: Any) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f'a crop size is an int or (height, width), got {size!r}')


def _default_argument(cls: type, name: str, default: Any) -> Any:
    """Default value of ``cls``'s constructor argument ``name``, else ``default``."""
    parameter = inspect.signature(cls).parameters.get(name)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return default
    return parameter.default

