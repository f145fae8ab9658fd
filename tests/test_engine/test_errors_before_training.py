"""A semi-supervised config with bad input stops before its first training
iteration, with an error naming the problem: an empty or missing unlabeled
split, a batch that starves a source, a model whose heads predict other
classes than the datasets have, missing ImageNet weights of the backbone."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmseg_csl  # noqa: F401
from tests.tool_utils import tiny_semi_experiment_config


class CountIterations(Hook):
    def __init__(self) -> None:
        self.iterations = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.iterations += 1


def train_until_error(cfg: dict, work_dir: Path, error: type, match: str) -> None:
    """Train ``cfg``; it must raise ``error`` matching ``match`` before the
    first training iteration."""
    cfg.update(work_dir=str(work_dir), experiment_name=work_dir.name,
               log_level='WARNING')
    runner = Runner.from_cfg(Config(cfg))
    counter = CountIterations()
    runner.register_hook(counter)
    with pytest.raises(error, match=match):
        runner.train()
    assert counter.iterations == 0
    assert not list(work_dir.glob('*.pth'))


@pytest.fixture
def semi_cfg(tmp_path) -> dict:
    return tiny_semi_experiment_config(tmp_path / 'data')


def unlabeled_dataset(cfg: dict) -> dict:
    return cfg['train_dataloader']['dataset']['datasets'][1]


@pytest.mark.parametrize('serialize_data', [True, False])
def test_empty_unlabeled_split_file_is_named(semi_cfg, tmp_path, serialize_data):
    unlabeled = unlabeled_dataset(semi_cfg)
    split = Path(unlabeled['data_root'], 'unlabeled.txt')
    split.write_text('')
    # The split dataset of this package's configs (mmseg's datasets keep
    # mmengine's numpy error).
    unlabeled.update(type='UniMatchSplitDataset', labeled=False,
                     ann_file='unlabeled.txt', serialize_data=serialize_data)
    train_until_error(semi_cfg, tmp_path / 'work', ValueError,
                      re.escape(f'split file {split} lists no samples'))


def test_missing_unlabeled_split_file_is_named(semi_cfg, tmp_path):
    unlabeled = unlabeled_dataset(semi_cfg)
    unlabeled['ann_file'] = 'splits/unlabeled.txt'
    missing = Path(unlabeled['data_root'], 'splits', 'unlabeled.txt')
    # mmseg's own check already names the file.
    train_until_error(semi_cfg, tmp_path / 'work', AssertionError,
                      re.escape(f'Failed to load `ann_file` {missing}'))


def test_batch_that_starves_a_source(semi_cfg, tmp_path):
    semi_cfg['train_dataloader']['batch_size'] = 1
    semi_cfg['train_dataloader']['sampler']['batch_size'] = 1
    train_until_error(
        semi_cfg, tmp_path / 'work', ValueError,
        r'batch_size=1 with source_ratio=\[1, 2\] gives source 0 0 samples per '
        r'batch .*batch_size=2 would work')


def test_head_with_other_class_count_than_training_data(semi_cfg, tmp_path):
    semi_cfg['model']['segmentor']['auxiliary_head']['num_classes'] = 5
    train_until_error(
        semi_cfg, tmp_path / 'work', ValueError,
        r"the training dataset \(ConcatDataset\) has 3 classes .* head\(s\) "
        r"'segmentor.auxiliary_head' \(FCNHead\) predicts 5")


def test_validation_data_with_other_classes_fails_before_training(semi_cfg, tmp_path):
    val_dataset = semi_cfg['val_dataloader']['dataset']
    val_dataset['metainfo'] = {'classes': ('a', 'b', 'c', 'd')}
    train_until_error(semi_cfg, tmp_path / 'work', ValueError,
                      r'the validation dataset \(BaseSegDataset\) has 4 classes')


def test_missing_backbone_weights_are_named(semi_cfg, tmp_path):
    missing = tmp_path / 'pretrained' / 'resnet101_mmseg.pth'
    semi_cfg['model']['segmentor']['backbone']['init_cfg'] = {
        'type': 'UniMatchResNetPretrained', 'checkpoint': str(missing)}
    train_until_error(
        semi_cfg, tmp_path / 'work', FileNotFoundError,
        re.escape(f'{missing} (resolved against') + '(?s:.*) gdown (?s:.*)'
        + re.escape(f'unimatch_resnet2mmseg.py work_dirs/pretrained/resnet101.pth '
                    f'{missing}'))
