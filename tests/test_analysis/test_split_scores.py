import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_csl.analysis import score_test_split
from tests.tool_utils import tiny_experiment_config


def test_scores_are_those_of_mmseg_iou_metric_on_the_test_split(tmp_path):
    cfg = Config(tiny_experiment_config(tmp_path / 'data'))
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    scores = score_test_split(runner)
    metrics = runner.test()

    assert scores['test_frames'] == 4
    assert scores['mIoU'] == pytest.approx(metrics['mIoU'], abs=0.01)
    assert scores['aAcc'] == pytest.approx(metrics['aAcc'], abs=0.01)
    assert list(scores['class_iou']) == list(runner.test_dataloader.dataset.metainfo[
        'classes'])
