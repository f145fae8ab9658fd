"""From a supervised config to semi-supervised training: the ``semi`` key.

Any supervised mmseg config (a zoo config or one's own) trains CSL on a folder
of unlabeled images with one key added::

    _base_ = ['mmseg::deeplabv3plus/'
              'deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py']
    semi = dict(method='csl', unlabeled=dict(data_root='data/my_images'))

:func:`expand_semi_config` turns that key into the config it stands for; the
tools (``tools/train.py``, ``tools/test.py``, ``tools/dry_run.py`` and
:func:`~mmseg_csl.engine.prepare_dry_run`) apply it after loading a config and
its ``--cfg-options``, so every rule of mmengine's inheritance and merging
applies to ``semi`` as to any other key, and the config a run dumps to its
work directory is the expanded one, a plain config of registered components.
"""
import copy
import logging
import os.path as osp
from typing import Any, List, Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS

from ..models.segmentors.semi_segmentor import SemiSegmentor
from ..utils import config_dicts
from .registry_lookup import registered_class, type_name
from .seg_map_checks import add_seg_map_checks

# ``semi.method`` -> (its ``semi_train_cfg`` in configs/_base_/semi/methods.py,
# its unlabeled views in configs/_base_/semi/views.py).
METHODS = {
    'csl': ('csl_release', 'unlabeled_branches'),
    'csl-masking': ('csl_masking', 'unlabeled_branches_masking'),
    'unimatch': ('unimatch', 'unlabeled_branches'),
}
SEMI_KEYS = ('method', 'unlabeled', 'crop_size', 'semi_train_cfg')
# Per labeled image, two unlabeled ones: one trained, one CutMix source
# (SemiSegmentor), as in every semi-supervised config of this package.
SOURCE_RATIO = (1, 2)
# Transforms of a labeled pipeline that the unlabeled images share: image
# loading and geometry (mmcv's and mmseg's). Photometric transforms are left
# out (the weak view is the geometric one; the strong views bring their own),
# and so is everything that reads labels.
GEOMETRIC_TRANSFORMS = ('Resize', 'RandomResize', 'RandomChoiceResize',
                        'ResizeShortestEdge', 'ResizeToMultiple', 'RandomCrop',
                        'RandomFlip', 'RandomRotate', 'RandomRotFlip', 'Pad')
RESIZE_TRANSFORMS = ('Resize', 'RandomResize', 'RandomChoiceResize',
                     'ResizeShortestEdge', 'ResizeToMultiple')


def expand_semi_config(cfg: Config) -> bool:
    """Replace ``cfg.semi`` by the semi-supervised training it asks for, in
    place; a config without ``semi`` is left as it is.

    ``semi`` keys:

    - ``method``: ``'csl'`` (the CSL release, default), ``'csl-masking'``
      (the masking version) or ``'unimatch'`` (a fixed threshold of 0.95);
      it picks the ``semi_train_cfg`` of ``configs/_base_/semi/methods.py``
      and the unlabeled views of ``configs/_base_/semi/views.py``;
    - ``unlabeled``: the unlabeled dataset, an ``UnlabeledImageDataset``
      (``data_root``: the image folder; ``img_suffix``, ``recursive``,
      ``max_unreadable_share``), or
      any dataset with a ``type``; a ``pipeline`` given here replaces the
      one derived from the labeled pipeline (the views are appended);
    - ``crop_size`` (optional): the unlabeled crop, where the labeled
      pipeline has no ``RandomCrop`` or should not set it;
    - ``semi_train_cfg`` (optional): keys that update the method's
      (:func:`updated_semi_train_cfg`).

    What it writes:

    - ``model``: ``SemiSegmentor`` around the config's model, whose data
      preprocessor ``MultiBranchDataPreProcessor`` wraps the model's own;
    - ``train_dataloader.dataset``: ``SemiSupervisedDataset`` of the labeled
      dataset as it was, its pipeline's final ``PackSegInputs`` moved into a
      ``MultiBranch`` branch ``sup``, and the unlabeled dataset, whose
      pipeline is :func:`unlabeled_pipeline` plus the method's views;
    - ``train_dataloader.sampler``: ``MultiSourceSampler`` with per-GPU
      batches of the config's labeled batch size ``b`` and ``2 b``
      unlabeled images (``batch_size`` ``3 b``); the training loop and
      everything else stay;
    - ``custom_hooks``: ``CSLSelectorHook`` added unless present;
    - ``CheckSegMap`` after every ``LoadAnnotations`` of the train, val and
      test pipelines (:func:`~mmseg_csl.engine.seg_map_checks.add_seg_map_checks`),
      so that label values outside the model's classes, and label maps of
      another size than their image, stop the run naming the file.

    Returns:
        bool: whether the config had a ``semi`` key.

    Raises:
        ValueError, KeyError, TypeError: before anything is built, for an
            unknown key or method, no unlabeled ``data_root``, a model that
            is not a plain segmentor config, no ``PackSegInputs`` at the end
            of the labeled pipeline, or a crop size found nowhere; each
            message names the key to set.
    """
    semi = cfg.get('semi')
    if semi is None:
        return False
    unknown = sorted(set(semi) - set(SEMI_KEYS))
    if unknown:
        raise KeyError(f'semi has unknown key(s) {unknown}; known keys: '
                       f'{list(SEMI_KEYS)}')
    method = semi.get('method', 'csl')
    if method not in METHODS:
        raise ValueError(f'semi.method must be one of {list(METHODS)}, got '
                         f'{method!r}')
    unlabeled = dict(semi.get('unlabeled') or {})
    if 'type' not in unlabeled and not unlabeled.get('data_root'):
        raise ValueError(
            'semi.unlabeled needs data_root, the folder of unlabeled images, '
            "e.g. semi=dict(unlabeled=dict(data_root='data/my_images'))")
    train_cfg_name, views_name = METHODS[method]
    semi_train_cfg = updated_semi_train_cfg(
        _semi_base('methods.py')[train_cfg_name], semi.get('semi_train_cfg'))
    views = _semi_base('views.py')[views_name]

    cfg.model = semi_model(cfg.get('model'), semi_train_cfg)
    cfg.train_dataloader = semi_train_dataloader(
        cfg.get('train_dataloader'), unlabeled, views, semi.get('crop_size'))
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(hook.get('type') == 'CSLSelectorHook' for hook in hooks):
        hooks.append(dict(type='CSLSelectorHook', interval=50))
    cfg.custom_hooks = hooks
    add_seg_map_checks(cfg)
    cfg.pop('semi')
    labeled_batch = cfg.train_dataloader.batch_size // sum(SOURCE_RATIO)
    print_log(
        f'semi: {method} on {cfg.model.segmentor.type}; per GPU '
        f'{labeled_batch} labeled and {labeled_batch * SOURCE_RATIO[1]} '
        'unlabeled images', logger='current')
    return True


def updated_semi_train_cfg(method_cfg: dict, update: Optional[dict]) -> dict:
    """A method's ``semi_train_cfg`` updated by ``update``, with
    ``SemiSegmentor``'s rule for its defaults: sub-configs (``cutmix``,
    ``fp``, ``masking``) key by key, so that e.g. ``cutmix=dict(prob=0.3)``
    keeps the method's CutMix views; the ``selector`` as a whole, since its
    keys belong to the selector chosen."""
    merged = copy.deepcopy(dict(method_cfg))
    for key, value in (update or {}).items():
        if (key != 'selector' and isinstance(value, dict)
                and isinstance(merged.get(key), dict)):
            value = dict(merged[key], **value)
        merged[key] = value
    return merged


def semi_model(model: Optional[dict], semi_train_cfg: dict) -> dict:
    """``SemiSegmentor`` around ``model`` (an mmseg segmentor config with a
    ``data_preprocessor``), trained with ``semi_train_cfg``."""
    if not model or 'type' not in model:
        raise ValueError('semi: the config has no model to wrap (a `model` '
                         'dict with a `type`)')
    segmentor_class = registered_class(model, MODELS, 'semi: model')
    if issubclass(segmentor_class, SemiSegmentor):
        raise ValueError(
            'semi: the model is a SemiSegmentor already; `semi` converts a '
            'supervised config (remove `semi`, or start from the supervised '
            'config)')
    if not issubclass(segmentor_class, BaseSegmentor):
        raise TypeError(
            f'semi: model type {segmentor_class.__name__} is not an mmseg '
            'segmentor (BaseSegmentor); SemiSegmentor wraps segmentors such '
            'as EncoderDecoder')
    if not model.get('data_preprocessor'):
        raise ValueError(
            'semi: the model has no data_preprocessor for '
            'MultiBranchDataPreProcessor to wrap; set model.data_preprocessor '
            "= dict(type='SegDataPreProcessor', ..., size=crop_size)")
    return dict(
        type='SemiSegmentor',
        segmentor=copy.deepcopy(model),
        data_preprocessor=dict(
            type='MultiBranchDataPreProcessor',
            data_preprocessor=copy.deepcopy(model['data_preprocessor'])),
        semi_train_cfg=semi_train_cfg)


def semi_train_dataloader(loader: Optional[dict], unlabeled: dict, views: dict,
                          crop_size: Any = None) -> dict:
    """The supervised training dataloader ``loader`` with ``unlabeled`` data
    added (see :func:`expand_semi_config`): ``views`` is the ``MultiBranch``
    config of the unlabeled views, ``crop_size`` the unlabeled crop (None:
    the labeled pipeline's)."""
    if not loader or not loader.get('dataset'):
        raise ValueError('semi: the config has no train_dataloader.dataset '
                         '(the labeled data)')
    labeled = copy.deepcopy(loader['dataset'])
    pipelines = list(_packed_pipelines(labeled))
    if not pipelines:
        raise ValueError(
            'semi: no pipeline of train_dataloader.dataset ends with '
            'PackSegInputs, so there is no labeled pipeline to take the '
            'unlabeled transforms from and to add the labeled view to')
    unlabeled = dict(unlabeled)
    pipeline = unlabeled.pop('pipeline', None)
    if pipeline is None:
        pipeline = unlabeled_pipeline(pipelines[0], crop_size)
    for labeled_pipeline in pipelines:
        labeled_pipeline[-1] = dict(
            type='MultiBranch',
            branch_field=list(views['branch_field']),
            sup=[labeled_pipeline[-1]])
    unlabeled_dataset = {
        'type': 'UnlabeledImageDataset',
        **unlabeled,
        'pipeline': [*pipeline, copy.deepcopy(views)],
    }
    batch_size = loader.get('batch_size', 1) * sum(SOURCE_RATIO)
    return dict(
        loader,
        batch_size=batch_size,
        sampler=dict(type='MultiSourceSampler', batch_size=batch_size,
                     source_ratio=list(SOURCE_RATIO)),
        dataset=dict(type='SemiSupervisedDataset', labeled=labeled,
                     unlabeled=unlabeled_dataset))


def unlabeled_pipeline(labeled_pipeline: Sequence[dict],
                       crop_size: Any = None) -> List[dict]:
    """The transforms of unlabeled images before their views, from a labeled
    pipeline of transform configs (ending with ``PackSegInputs``): its image
    loading and geometric transforms (``GEOMETRIC_TRANSFORMS``), in order,
    so that unlabeled images are scaled, cropped and flipped as labeled ones.
    ``RandomCrop`` crops without looking at labels (``cat_max_ratio=1.0``),
    to ``crop_size`` if given (inserted after the last resize if the labeled
    pipeline has no crop). What is left out is logged."""
    kept, left_out = [], []
    for transform in labeled_pipeline[:-1]:
        name = type_name(transform)
        if name in GEOMETRIC_TRANSFORMS or _loads_image(name):
            kept.append(copy.deepcopy(transform))
        else:
            left_out.append(name)
    crops = [t for t in kept if type_name(t) == 'RandomCrop']
    if not crops:
        if crop_size is None:
            raise ValueError(
                'semi: cannot find the crop size of the unlabeled images: the '
                'labeled pipeline has no RandomCrop; set semi.crop_size, e.g. '
                'semi=dict(..., crop_size=(512, 512))')
        position = 1 + max(
            (index for index, t in enumerate(kept)
             if type_name(t) in RESIZE_TRANSFORMS or _loads_image(type_name(t))),
            default=-1)
        crops = [dict(type='RandomCrop', crop_size=crop_size)]
        kept.insert(position, crops[0])
    for crop in crops:
        crop['cat_max_ratio'] = 1.0
        if crop_size is not None:
            crop['crop_size'] = crop_size
    if left_out:
        print_log(f'semi: the unlabeled pipeline leaves out {left_out} of the '
                  'labeled one (labels and photometric transforms; the views '
                  'bring their own)', logger='current', level=logging.INFO)
    return kept


def _packed_pipelines(dataset: Any) -> List[list]:
    """Every ``pipeline`` list ending with ``PackSegInputs`` in a dataset
    config and the datasets it wraps, outermost first."""
    wrapped = config_dicts(dataset, enter=lambda key, _: key in ('dataset', 'datasets'))
    return [config['pipeline'] for config in wrapped
            if config.get('pipeline')
            and type_name(config['pipeline'][-1]) == 'PackSegInputs']


def _loads_image(name: str) -> bool:
    return name.startswith('Load') and 'Annotation' not in name


def _semi_base(name: str) -> Config:
    """``configs/_base_/semi/<name>`` of this package."""
    path, _ = Config._get_cfg_path(f'mmseg_csl::_base_/semi/{name}', '')
    return Config.fromfile(osp.normpath(path))
