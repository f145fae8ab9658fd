"""Label maps checked where they are loaded: the insertion into a config's
pipelines, and runs that stopped late or scored wrongly without it."""
import re
from pathlib import Path

import cv2
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_csl.engine import add_seg_map_checks
from mmseg_csl.engine.seg_map_checks import (
    DATALOADERS,
    dataset_pipelines,
    head_classes,
)
from tests.semi_utils import tiny_segmentor_cfg
from tests.tool_utils import REPO_ROOT, tiny_experiment_config

LOAD = [{'type': 'LoadImageFromFile'}, {'type': 'LoadAnnotations'}]
PACK = {'type': 'PackSegInputs'}
CHECK = {'type': 'CheckSegMap', 'num_classes': 3, 'ignore_index': 255}


def test_a_check_follows_every_loadannotations_once():
    labeled = {'type': 'BaseSegDataset', 'pipeline': [*LOAD, PACK]}
    unlabeled = {'type': 'UnlabeledImageDataset', 'pipeline': [LOAD[0], PACK]}
    cfg = Config({
        'model': {'type': 'SemiSegmentor', 'segmentor': tiny_segmentor_cfg()},
        'train_dataloader': {'dataset': {
            'type': 'SemiSupervisedDataset',
            'labeled': {'type': 'ConcatDataset', 'datasets': [labeled, labeled]},
            'unlabeled': unlabeled}},
        'val_dataloader': {'dataset': {'type': 'RepeatDataset', 'times': 2,
                                       'dataset': labeled}},
        'test_dataloader': {'dataset': {'pipeline': [
            LOAD[0], {'type': 'Resize', 'scale': (8, 8)}, LOAD[1], CHECK, PACK]}},
    })

    assert add_seg_map_checks(cfg) == 3
    train = cfg.train_dataloader.dataset
    for dataset in (*train.labeled.datasets, cfg.val_dataloader.dataset.dataset):
        assert dataset.pipeline == [*LOAD, CHECK, PACK]
    assert train.unlabeled.pipeline == [LOAD[0], PACK]
    assert len(cfg.test_dataloader.dataset.pipeline) == 5
    assert add_seg_map_checks(cfg) == 0


def test_the_classes_are_the_final_heads():
    head = {'num_classes': 19, 'ignore_index': 0}
    assert head_classes({'decode_head': head}) == (19, 0)
    assert head_classes({'decode_head': [{'num_classes': 5}, head]}) == (19, 0)
    assert head_classes({'decode_head': {'num_classes': 2, 'out_channels': 1}}) == (
        2, 255)
    assert head_classes({'type': 'SomeModel'}) is None
    cfg = Config({'model': {'type': 'SomeModel'},
                  'val_dataloader': {'dataset': {'pipeline': [*LOAD]}}})
    assert add_seg_map_checks(cfg) == 0


def broken_run(tmp_path, split: str, value: int) -> Runner:
    """The tiny experiment, checked as tools/train.py and test.py check it,
    with ``value`` painted into every label map of ``split``."""
    cfg = Config(tiny_experiment_config(tmp_path / 'data'))
    cfg.merge_from_dict(dict(work_dir=str(tmp_path / 'work'), log_level='WARNING'))
    for label_path in Path(tmp_path, 'data', split, 'ann_dir').glob('*.png'):
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        label[:4, :4] = value
        cv2.imwrite(str(label_path), label)
    assert add_seg_map_checks(cfg) == 3  # train, val, test
    return Runner.from_cfg(cfg)


def test_training_on_an_out_of_range_label_names_the_file(tmp_path):
    # unchecked: "IndexError: Target 9 is out of bounds." in the loss
    runner = broken_run(tmp_path, 'train', 9)
    with pytest.raises(ValueError) as error:
        runner.train()
    data = tmp_path / 'data' / 'train'
    assert re.match(
        rf'The label map {data}/ann_dir/(\d+).png \(image {data}/img_dir/\1.png\) '
        r'holds the label value\(s\) 9, outside the classes 0..2 \(num_classes=3\) '
        'and the ignore index 255', str(error.value))


def test_testing_on_an_out_of_range_label_stops(tmp_path):
    # unchecked: IoUMetric leaves the pixels out and reports the rest
    runner = broken_run(tmp_path, 'val', 3)
    with pytest.raises(ValueError, match=r'value\(s\) 3, outside the classes'):
        runner.test()


def test_the_shipped_configs_check_every_label_map():
    checked = 0
    for path in sorted((REPO_ROOT / 'configs').glob('[!_]*/*.py')):
        cfg = Config.fromfile(str(path))
        num_classes, _ = head_classes(cfg.model)
        for loader in DATALOADERS:
            for pipeline in dataset_pipelines(cfg[loader].dataset):
                for index, transform in enumerate(pipeline):
                    if transform['type'] == 'LoadAnnotations':
                        assert pipeline[index + 1] == dict(
                            type='CheckSegMap', num_classes=num_classes), path
                        checked += 1
    assert checked > 200
