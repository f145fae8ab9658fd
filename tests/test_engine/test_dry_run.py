import math
from pathlib import Path

import mmcv
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmseg.datasets import ADE20KDataset, CityscapesDataset
from mmseg.registry import DATASETS, MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.engine import dry_run, load_config, prepare_dry_run
from mmseg_csl.engine.dry_run import (
    crop_size,
    drop_pretrained_weights,
    shrink_config,
    smallest_multi_source_batch,
    synthetic_dataset,
    write_synthetic_dataset,
)
from tests.tool_utils import REPO_ROOT

FCN_CITYSCAPES = 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py'
SUPERVISED_DEMO = str(REPO_ROOT / 'configs' / 'demo' /
                      'supervised_tiny-deeplabv3plus_1xb4-800it_shapes-64x64.py')
SEMI_DEMO = str(REPO_ROOT / 'configs' / 'demo' /
                'csl_tiny-deeplabv3plus_1xb12-400it_shapes-64x64.py')
PAPER_CONFIG = str(REPO_ROOT / 'configs' / 'csl' /
                   'csl_deeplabv3plus-r101-d8_4xb2-80e_voc12-321x321_92.py')


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def test_load_config_takes_package_configs():
    cfg = load_config(FCN_CITYSCAPES)
    assert cfg.model.decode_head.num_classes == 19
    assert cfg.train_dataloader.dataset.type == 'CityscapesDataset'
    assert load_config(SEMI_DEMO).model.type == 'SemiSegmentor'


def test_written_images_have_the_size_and_class_ids(tmp_path):
    write_synthetic_dataset(str(tmp_path), 3, (20, 36), num_classes=5)
    images = sorted((tmp_path / 'img_dir').glob('*.png'))
    labels = sorted((tmp_path / 'ann_dir').glob('*.png'))
    assert [path.name for path in images] == [path.name for path in labels] == [
        '000.png', '001.png', '002.png']
    assert mmcv.imread(str(images[0])).shape == (20, 36, 3)
    label = mmcv.imread(str(labels[0]), flag='unchanged')
    assert label.shape == (20, 36) and label.max() < 5


def test_reduce_zero_label_shifts_the_written_labels(tmp_path):
    write_synthetic_dataset(str(tmp_path), 4, (16, 16), num_classes=3,
                            reduce_zero_label=True)
    values = np.unique(np.concatenate([
        mmcv.imread(str(path), flag='unchanged').ravel()
        for path in (tmp_path / 'ann_dir').glob('*.png')]))
    assert set(values) <= {1, 2, 3} and len(values) > 1


def test_wrapped_datasets_become_generated_ones_with_their_classes(tmp_path):
    pipeline = [{'type': 'LoadImageFromFile'}, {'type': 'LoadAnnotations'}]
    original = {
        'type': 'ConcatDataset',
        'datasets': [
            {'type': 'CityscapesDataset', 'data_root': 'nowhere', 'pipeline': pipeline},
            {'type': 'RepeatDataset', 'times': 3, 'dataset': {
                'type': 'ADE20KDataset', 'ann_file': 'missing.txt',
                'pipeline': pipeline}},
        ],
    }
    generated = synthetic_dataset(original, str(tmp_path), (24, 32), num_images=2)

    labeled, repeated = generated['datasets']
    assert generated['type'] == 'ConcatDataset'
    assert repeated['type'] == 'RepeatDataset' and repeated['times'] == 3
    assert labeled['data_root'] == str(tmp_path / '0')
    assert repeated['dataset']['data_root'] == str(tmp_path / '1' / '0')
    assert labeled['metainfo']['classes'] == CityscapesDataset.METAINFO['classes']
    assert labeled['metainfo']['palette'] == CityscapesDataset.METAINFO['palette']
    assert labeled['reduce_zero_label'] is False
    ade = repeated['dataset']
    assert ade['reduce_zero_label'] is True  # ADE20KDataset's default
    assert ade['pipeline'] == pipeline and 'ann_file' not in ade

    dataset = DATASETS.build(ade)
    assert len(dataset) == 2
    assert dataset.metainfo['classes'] == ADE20KDataset.METAINFO['classes']
    sample = dataset[0]
    assert sample['img'].shape == (24, 32, 3)
    assert sample['gt_seg_map'].max() < 150  # ids 1..150 back to 0..149


def test_config_metainfo_and_metainfo_from_are_kept(tmp_path):
    metainfo = {'classes': ('x', 'y')}
    generated = synthetic_dataset(
        {'type': 'BaseSegDataset', 'metainfo': metainfo}, str(tmp_path), (8, 8))
    assert generated['metainfo'] == {'classes': ('x', 'y')}
    generated = synthetic_dataset(
        {'type': 'UniMatchSplitDataset', 'ann_file': 'splits/1.txt',
         'metainfo_from': 'CityscapesDataset'}, str(tmp_path), (8, 8))
    assert generated['metainfo']['classes'] == CityscapesDataset.METAINFO['classes']


def test_dataset_without_classes_or_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match='BaseSegDataset has no classes'):
        synthetic_dataset({'type': 'BaseSegDataset'}, str(tmp_path), (8, 8))
    with pytest.raises(KeyError, match="dataset type 'NoSuchDataset' is not"):
        synthetic_dataset({'type': 'NoSuchDataset'}, str(tmp_path), (8, 8))


def test_crop_size_sources():
    cfg = load_config(FCN_CITYSCAPES)
    assert crop_size(cfg) == (512, 1024)
    cfg.train_dataloader.dataset.pipeline = []
    cfg.model.data_preprocessor.size = (100, 200)
    assert crop_size(cfg) == (100, 200)
    cfg.model.data_preprocessor.size = None
    assert crop_size(cfg) == (512, 1024)  # the `crop_size` variable
    cfg.crop_size = None
    with pytest.raises(ValueError, match='cannot tell the crop size'):
        crop_size(cfg)


def test_drop_pretrained_weights_everywhere():
    model = {'pretrained': 'open-mmlab://x', 'backbone': {
        'init_cfg': {'type': 'Pretrained', 'checkpoint': 'y'}},
        'heads': [{'init_cfg': {'type': 'Normal'}}, {'num_classes': 2}]}
    drop_pretrained_weights(model)
    assert model == {'pretrained': None, 'backbone': {'init_cfg': None},
                     'heads': [{'init_cfg': None}, {'num_classes': 2}]}


def test_prepare_drops_the_reference_weights_of_the_paper_configs(tmp_path,
                                                                 monkeypatch):
    """The paper configs' backbone needs no weights file in a dry run."""
    monkeypatch.setenv('RESNET101_WEIGHTS', str(tmp_path / 'missing.pth'))
    cfg = load_config(PAPER_CONFIG)
    assert cfg.model.segmentor.backbone.init_cfg.type == 'UniMatchResNetPretrained'
    prepare_dry_run(cfg, str(tmp_path / 'data'), iters=1, shrink=True)
    assert cfg.model.segmentor.backbone.init_cfg is None
    MODELS.build(cfg.model.segmentor.backbone).init_weights()


@pytest.mark.parametrize('batch_size, ratio, expected', [
    (12, [1, 2], 6),   # 4 + 8 -> 2 + 4: 2 trained and 2 CutMix sources
    (24, [1, 2], 6),
    (8, [1, 1], 8),    # 4 + 4 -> 2 + 2 would leave one CutMix source
    (16, [1, 1], 8),
    (6, [1, 2], 6),
    (3, [1, 2], 3),    # 1 + 2: too few unlabeled samples to keep 4
    (10, [2, 3], 10),  # 4 + 6 -> 2 + 3 would make the unlabeled count odd
])
def test_smallest_multi_source_batch(batch_size, ratio, expected):
    assert smallest_multi_source_batch(batch_size, ratio) == expected


def test_shrink_scales_sizes_and_batches():
    cfg = load_config(FCN_CITYSCAPES)
    shrink_config(cfg)
    train = cfg.train_dataloader
    assert crop_size(cfg) == (128, 256)
    assert train.dataset.pipeline[2].scale == (512, 256)
    assert cfg.val_dataloader.dataset.pipeline[1].scale == (512, 256)
    assert cfg.model.data_preprocessor.size == (128, 256)
    assert cfg.crop_size == (128, 256)
    assert train.batch_size == 2 and cfg.val_dataloader.batch_size == 1

    semi = load_config(SEMI_DEMO)
    shrink_config(semi)  # 64x64 crops stay; the batch of 4 + 8 becomes 2 + 4
    assert crop_size(semi) == (64, 64)
    assert semi.train_dataloader.batch_size == 6
    assert semi.train_dataloader.sampler.batch_size == 6
    assert semi.val_dataloader.batch_size == 2


def test_shrink_updates_the_wrapped_model_and_loads_in_the_main_process():
    semi = load_config(SEMI_DEMO)
    semi.train_dataloader.update(num_workers=4, persistent_workers=True)
    shrink_config(semi, model_update=dict(backbone=dict(base_channels=4)),
                  load_in_main_process=True)
    assert semi.model.segmentor.backbone.base_channels == 4
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert semi[loader].num_workers == 0
        assert semi[loader].persistent_workers is False

    plain = load_config(FCN_CITYSCAPES)
    shrink_config(plain, model_update=dict(decode_head=dict(channels=8)))
    assert plain.model.decode_head.channels == 8
    assert plain.train_dataloader.num_workers == 2  # the config's


def test_shrink_scales_sliding_window_testing():
    cfg = load_config('mmseg::unet/unet-s5-d16_fcn_4xb4-40k_hrf-256x256.py')
    assert cfg.model.test_cfg.crop_size == (256, 256)
    cfg.model.test_cfg.stride = (170, 170)
    shrink_config(cfg, max_side=128)
    assert cfg.model.test_cfg.crop_size == (128, 128)
    assert cfg.model.test_cfg.stride == (85, 85)


def test_prepare_rewrites_data_weights_and_schedule(tmp_path):
    cfg = load_config(FCN_CITYSCAPES)
    assert prepare_dry_run(cfg, str(tmp_path), iters=3, shrink=True) == (128, 256)
    assert cfg.train_dataloader.dataset.type == 'BaseSegDataset'
    assert len(list((tmp_path / 'train_dataloader' / 'img_dir').glob('*.png'))) == 6
    assert len(list((tmp_path / 'val_dataloader' / 'img_dir').glob('*.png'))) == 2
    assert cfg.model.pretrained is None
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.train_cfg == {'type': 'IterBasedTrainLoop', 'max_iters': 3,
                             'val_interval': 3}
    assert cfg.default_hooks.checkpoint.interval == 3
    assert {'type': 'ClassCountCheckHook'} in cfg.custom_hooks
    assert 'name' not in cfg.visualizer


def test_supervised_demo_dry_run_reports_losses_and_metrics(tmp_path):
    cfg = load_config(SUPERVISED_DEMO)
    cfg.work_dir = str(tmp_path / 'work')
    prepare_dry_run(cfg, str(tmp_path / 'data'), iters=2)
    report = dry_run(cfg)

    assert report.iters == 2
    assert set(report.losses) == {'loss', 'decode.loss_ce'}
    assert all(math.isfinite(value) for value in report.losses.values())
    assert 0 <= report.metrics['mIoU'] <= 100
    assert report.wall_s > 0
    assert 'losses of the last one: loss=' in str(report)
    assert Path(cfg.work_dir, 'iter_2.pth').is_file()


def test_dry_run_stops_a_model_with_other_classes_before_training(tmp_path):
    cfg = load_config(SUPERVISED_DEMO)
    cfg.model.decode_head.num_classes = 5
    cfg.work_dir = str(tmp_path / 'work')
    prepare_dry_run(cfg, str(tmp_path / 'data'), iters=2)
    with pytest.raises(ValueError, match=r"has 4 classes \('background', 'circle', "
                       r"'square', 'triangle'\) .* predicts 5"):
        dry_run(cfg)
    assert not list(Path(cfg.work_dir).glob('*.pth'))


def test_missing_config_file_is_named():
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        load_config(str(REPO_ROOT / 'configs' / 'no_such_config.py'))
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        load_config('mmseg::fcn/no_such_config.py')
