"""The `semi` key: a supervised mmseg config plus a folder of unlabeled
images becomes a semi-supervised config (expand_semi_config), which trains
and validates through the dry run."""
import math
from pathlib import Path
from typing import Optional

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseg_csl  # noqa: F401
from mmseg_csl.engine import (
    dry_run,
    expand_semi_config,
    load_config,
    prepare_dry_run,
)
from mmseg_csl.engine.dry_run import shrink_config
from tests.tool_utils import REPO_ROOT

DEEPLAB_CITYSCAPES = ('mmseg::deeplabv3plus/'
                      'deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py')
SEGFORMER_ADE20K = 'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py'
PSPNET_VOC_AUG = 'mmseg::pspnet/pspnet_r50-d8_4xb4-20k_voc12aug-512x512.py'
CSL_DEMO = str(REPO_ROOT / 'configs' / 'demo' /
               'csl_tiny-deeplabv3plus_1xb12-400it_shapes-64x64.py')
METHODS = Config.fromfile(
    str(REPO_ROOT / 'configs' / '_base_' / 'semi' / 'methods.py'))
VIEWS = Config.fromfile(str(REPO_ROOT / 'configs' / '_base_' / 'semi' / 'views.py'))


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def write_leaf(folder: Path, base: str, semi: Optional[str],
               name: str = 'leaf.py') -> str:
    """The few lines a user writes: a supervised base and the `semi` key
    (none: the supervised config, loaded the same way)."""
    path = folder / name
    path.write_text(f"_base_ = ['{base}']\n" + (f'semi = {semi}\n' if semi else ''))
    return str(path)


def types(pipeline) -> list:
    return [transform['type'] for transform in pipeline]


def test_a_zoo_config_becomes_csl(tmp_path):
    supervised = load_config(write_leaf(tmp_path, DEEPLAB_CITYSCAPES, None,
                                        'supervised.py'))
    cfg = load_config(write_leaf(
        tmp_path, DEEPLAB_CITYSCAPES, "dict(unlabeled=dict(data_root='data/u'))"))

    assert expand_semi_config(cfg)

    assert 'semi' not in cfg
    assert cfg.model.type == 'SemiSegmentor'
    assert cfg.model.segmentor == supervised.model
    assert cfg.model.data_preprocessor == dict(
        type='MultiBranchDataPreProcessor',
        data_preprocessor=supervised.model.data_preprocessor)
    assert cfg.model.semi_train_cfg == METHODS.csl_release
    loader = cfg.train_dataloader
    assert loader.batch_size == 6  # 2 labeled + 4 unlabeled, as the zoo's 4xb2
    assert loader.sampler == dict(type='MultiSourceSampler', batch_size=6,
                                  source_ratio=[1, 2])
    assert loader.num_workers == supervised.train_dataloader.num_workers
    assert loader.dataset.type == 'SemiSupervisedDataset'
    # the labeled dataset as it was, its PackSegInputs inside the `sup` branch
    labeled = loader.dataset.labeled
    original = supervised.train_dataloader.dataset
    assert {key: labeled[key] for key in labeled if key != 'pipeline'} == {
        key: original[key] for key in original if key != 'pipeline'}
    # ... and the label check after its LoadAnnotations, with the head's classes
    check = dict(type='CheckSegMap', num_classes=19, ignore_index=255)
    assert types(original.pipeline[:2]) == ['LoadImageFromFile', 'LoadAnnotations']
    assert labeled.pipeline[:-1] == [*original.pipeline[:2], check,
                                     *original.pipeline[2:-1]]
    assert labeled.pipeline[-1] == dict(
        type='MultiBranch', branch_field=VIEWS.branch_field,
        sup=[original.pipeline[-1]])
    # the unlabeled folder: the labeled geometry, then the method's views
    unlabeled = loader.dataset.unlabeled
    assert unlabeled.type == 'UnlabeledImageDataset'
    assert unlabeled.data_root == 'data/u'
    assert types(unlabeled.pipeline) == [
        'LoadImageFromFile', 'RandomResize', 'RandomCrop', 'RandomFlip',
        'MultiBranch']
    assert unlabeled.pipeline[1] == original.pipeline[2]  # RandomResize
    assert unlabeled.pipeline[2] == dict(type='RandomCrop', crop_size=(512, 1024),
                                         cat_max_ratio=1.0)
    assert unlabeled.pipeline[-1] == VIEWS.unlabeled_branches
    assert cfg.train_cfg == supervised.train_cfg  # the iteration-based loop
    for loader in ('val_dataloader', 'test_dataloader'):
        pipeline = supervised[loader].dataset.pipeline
        assert types(pipeline) == ['LoadImageFromFile', 'Resize', 'LoadAnnotations',
                                   'PackSegInputs']
        assert cfg[loader].dataset.pipeline == [*pipeline[:3], check, pipeline[3]]
        cfg[loader].dataset.pipeline = pipeline
        assert cfg[loader] == supervised[loader]
    assert dict(type='CSLSelectorHook', interval=50) in cfg.custom_hooks
    assert not expand_semi_config(cfg)  # expanded once


@pytest.mark.parametrize('method, semi_train_cfg, views', [
    ('csl', 'csl_release', 'unlabeled_branches'),
    ('csl-masking', 'csl_masking', 'unlabeled_branches_masking'),
    ('unimatch', 'unimatch', 'unlabeled_branches'),
])
def test_method_picks_training_and_views(tmp_path, method, semi_train_cfg, views):
    cfg = load_config(write_leaf(
        tmp_path, DEEPLAB_CITYSCAPES,
        f"dict(method='{method}', unlabeled=dict(data_root='data/u'))"))
    expand_semi_config(cfg)
    assert cfg.model.semi_train_cfg == METHODS[semi_train_cfg]
    assert cfg.train_dataloader.dataset.unlabeled.pipeline[-1] == VIEWS[views]


def test_merge_rules_apply_to_semi(tmp_path):
    """A leaf on a leaf merges `semi` key by key, --cfg-options too, and the
    expansion sees the result."""
    first = write_leaf(tmp_path, DEEPLAB_CITYSCAPES,
                       "dict(unlabeled=dict(data_root='data/u', recursive=False))",
                       'first.py')
    cfg = load_config(write_leaf(
        tmp_path, first,
        "dict(method='unimatch', semi_train_cfg=dict(selector=dict("
        "type='ThresholdSelector', threshold=0.9)))", 'second.py'))
    cfg.merge_from_dict({'semi.crop_size': (256, 256)})
    expand_semi_config(cfg)

    unlabeled = cfg.train_dataloader.dataset.unlabeled
    assert (unlabeled.data_root, unlabeled.recursive) == ('data/u', False)
    assert cfg.model.semi_train_cfg == dict(
        METHODS.unimatch, selector=dict(type='ThresholdSelector', threshold=0.9))
    assert unlabeled.pipeline[2] == dict(type='RandomCrop', crop_size=(256, 256),
                                         cat_max_ratio=1.0)
    # the labeled crop stays the user's (after the loading, the label check and
    # the resize)
    assert cfg.train_dataloader.dataset.labeled.pipeline[4].crop_size == (512, 1024)


def test_semi_train_cfg_updates_sub_configs_key_by_key(tmp_path):
    cfg = load_config(write_leaf(
        tmp_path, DEEPLAB_CITYSCAPES,
        "dict(method='csl-masking', unlabeled=dict(data_root='u'), "
        "semi_train_cfg=dict(cutmix=dict(prob=0.3), teacher='ema', "
        "selector=dict(type='CSLSelector', variant='masking', alpha=4)))"))
    expand_semi_config(cfg)
    assert cfg.model.semi_train_cfg == dict(
        METHODS.csl_masking, teacher='ema', cutmix=dict(views=('strong1', ), prob=0.3),
        selector=dict(type='CSLSelector', variant='masking', alpha=4))


def test_every_pipeline_of_a_wrapped_labeled_dataset_gets_the_branch(tmp_path):
    # Pascal VOC + SBD: a ConcatDataset of two datasets
    cfg = load_config(write_leaf(tmp_path, PSPNET_VOC_AUG,
                                 "dict(unlabeled=dict(data_root='data/u'))"))
    expand_semi_config(cfg)
    labeled = cfg.train_dataloader.dataset.labeled
    assert labeled.type == 'ConcatDataset'
    for dataset in labeled.datasets:
        assert dataset.pipeline[-1]['type'] == 'MultiBranch'
        assert dataset.pipeline[-1]['sup'] == [dict(type='PackSegInputs')]
    assert cfg.train_dataloader.batch_size == 12  # 4xb4: 4 + 8


def test_stated_crop_where_the_labeled_pipeline_has_none():
    cfg = Config(dict(
        model=load_config(DEEPLAB_CITYSCAPES).model,
        train_dataloader=dict(batch_size=1, dataset=dict(
            type='CityscapesDataset', pipeline=[
                dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='Resize', scale=(64, 32)), dict(type='RandomFlip', prob=0.5),
                dict(type='PackSegInputs')])),
        semi=dict(unlabeled=dict(data_root='data/u'), crop_size=32)))
    expand_semi_config(cfg)
    assert types(cfg.train_dataloader.dataset.unlabeled.pipeline) == [
        'LoadImageFromFile', 'Resize', 'RandomCrop', 'RandomFlip', 'MultiBranch']
    assert cfg.train_dataloader.dataset.unlabeled.pipeline[2].crop_size == 32


@pytest.mark.parametrize('semi, error, message', [
    ("dict(unlabeled=dict(data_root='u'), ratio=3)", KeyError,
     r"semi has unknown key\(s\) \['ratio'\]"),
    ("dict(method='fixmatch', unlabeled=dict(data_root='u'))", ValueError,
     "semi.method must be one of"),
    ("dict(method='csl')", ValueError, 'semi.unlabeled needs data_root'),
])
def test_bad_semi_keys(tmp_path, semi, error, message):
    cfg = load_config(write_leaf(tmp_path, DEEPLAB_CITYSCAPES, semi))
    with pytest.raises(error, match=message):
        expand_semi_config(cfg)


def test_no_crop_size_names_the_key():
    cfg = Config(dict(
        model=load_config(DEEPLAB_CITYSCAPES).model,
        train_dataloader=dict(dataset=dict(type='CityscapesDataset', pipeline=[
            dict(type='LoadImageFromFile'), dict(type='PackSegInputs')])),
        semi=dict(unlabeled=dict(data_root='u'))))
    with pytest.raises(ValueError, match='no RandomCrop; set semi.crop_size'):
        expand_semi_config(cfg)


def test_labeled_pipeline_must_end_with_pack_seg_inputs():
    cfg = load_config(DEEPLAB_CITYSCAPES)
    cfg.train_dataloader.dataset.pipeline.pop()
    cfg.semi = dict(unlabeled=dict(data_root='u'))
    with pytest.raises(ValueError, match='ends with PackSegInputs'):
        expand_semi_config(cfg)


def test_models_that_cannot_be_wrapped(tmp_path):
    cfg = load_config(write_leaf(tmp_path, CSL_DEMO,
                                 "dict(unlabeled=dict(data_root='u'))"))
    with pytest.raises(ValueError, match='is a SemiSegmentor already'):
        expand_semi_config(cfg)

    cfg = load_config(DEEPLAB_CITYSCAPES)
    cfg.semi = dict(unlabeled=dict(data_root='u'))
    cfg.model = cfg.model.data_preprocessor
    with pytest.raises(TypeError, match='SegDataPreProcessor is not an mmseg '
                                        'segmentor'):
        expand_semi_config(cfg)

    cfg = load_config(DEEPLAB_CITYSCAPES)
    cfg.semi = dict(unlabeled=dict(data_root='u'))
    cfg.model.pop('data_preprocessor')
    with pytest.raises(ValueError, match='set model.data_preprocessor'):
        expand_semi_config(cfg)


@pytest.mark.parametrize('zoo_config', [DEEPLAB_CITYSCAPES, SEGFORMER_ADE20K])
def test_zoo_config_with_semi_through_the_dry_run(tmp_path, zoo_config):
    """Two lines on a zoo config of Cityscapes and of ADE20K: 2 iterations of
    CSL on generated labeled and unlabeled data (64 px), then validation."""
    cfg = load_config(write_leaf(
        tmp_path, zoo_config, "dict(unlabeled=dict(data_root='/cluster/images'))"))
    cfg.update(work_dir=str(tmp_path / 'work'), log_level='WARNING')
    expand_semi_config(cfg)
    shrink_config(cfg, max_side=64)
    prepare_dry_run(cfg, str(tmp_path / 'data'), iters=2)
    cfg.default_hooks.checkpoint = None

    dataset = cfg.train_dataloader.dataset
    assert dataset.labeled.data_root.startswith(str(tmp_path / 'data'))
    assert dataset.unlabeled == dict(
        type='UnlabeledImageDataset',
        data_root=str(tmp_path / 'data' / 'train_dataloader' / '1' / 'img_dir'),
        pipeline=dataset.unlabeled.pipeline)
    report = dry_run(cfg)

    assert {'sup.decode.loss_ce', 'unsup.loss_s1', 'unsup.loss_s2',
            'unsup.loss_fp'} <= report.losses.keys()
    assert all(math.isfinite(value) for value in report.losses.values())
    assert report.losses['unsup.loss_s1'] > 0
    assert 0 <= report.metrics['mIoU'] <= 100
