import glob
import json
import os.path as osp
from pathlib import Path
from types import SimpleNamespace
from typing import List

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.engine.hooks import CSLSelectorHook
from mmseg_csl.engine.hooks.csl_selector_hook import (
    plot_selection,
    selection_statistics,
)
from mmseg_csl.models.selectors import SelectionRecord, SelectionResult
from tests.semi_utils import semi_runner, semi_segmentor_cfg, tiny_segmentor_cfg
from tests.tool_utils import (
    dump_config,
    free_port,
    run_tool,
    tiny_semi_experiment_config,
)

STATISTICS = {
    'selected_ratio', 'mean_weight', 'threshold_ratio', 'center_conf',
    'center_res_var', 'center_var_conf', 'center_var_res_var'
}
ACCURACIES = {'selected_acc', 'valid_acc', 'threshold_acc'}
COUNTS = {'valid_pixels', 'selected_pixels', 'thresholded_pixels', 'images',
          'annotated_pixels'}


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def handmade_record(with_gt=True, reliable=None):
    """Two 1 x 4 images; the numbers are worked out in the test below."""
    valid = torch.tensor([[[True, True, True, False]],
                          [[True, True, False, False]]])
    if reliable is None:
        reliable = torch.tensor([[[True, False, True, False]],
                                 [[False, False, False, False]]])
    result = SelectionResult(
        weight=torch.tensor([[[1.0, 0.5, 1.0, 0.0]], [[0.2, 0.3, 0.0, 0.0]]]),
        reliable=reliable,
        pseudo_label=torch.tensor([[[0, 0, 2, 1]], [[0, 1, 1, 1]]]),
        max_conf=torch.tensor([[[0.99, 0.6, 0.96, 0.99]],
                               [[0.97, 0.5, 0.99, 0.1]]]),
        res_var=torch.rand(2, 1, 4),
        center=torch.tensor([[0.9, 0.1], [0.8, 0.3]]),
        center_var=torch.tensor([[0.01, 0.02], [0.03, 0.04]]))
    gt = torch.tensor([[[0, 1, 2, 255]], [[1, 1, 0, 0]]]) if with_gt else None
    return SelectionRecord(result, valid, gt, ignore_index=255)


def test_statistics_of_a_handmade_record():
    stats = selection_statistics(handmade_record(), threshold=0.95)

    expected = {
        'selected_ratio': 2 / 5,
        'mean_weight': 3 / 5,
        'threshold_ratio': 3 / 5,
        'center_conf': 0.85,
        'center_res_var': 0.2,
        'center_var_conf': 0.02,
        'center_var_res_var': 0.03,
        'selected_acc': 1.0,
        'valid_acc': 3 / 5,
        'threshold_acc': 2 / 3,
    }
    assert stats.keys() == expected.keys()
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value), name


def test_masking_version_centre_is_reported_as_its_boundary_point():
    record = handmade_record()
    record.result.log_points = True
    record.result.center = torch.tensor([[-0.1, -0.2], [-0.3, -0.4]])
    stats = selection_statistics(record, threshold=0.95)

    conf = (np.exp(-0.1) + np.exp(-0.3)) / 2
    assert stats['center_conf'] == pytest.approx(conf)
    assert stats['center_res_var'] == pytest.approx(0.3)
    assert plot_selection(record, max_points=100).ndim == 3


def test_statistics_over_empty_sets_are_left_out():
    nothing = torch.zeros(2, 1, 4, dtype=torch.bool)
    stats = selection_statistics(
        handmade_record(reliable=nothing), threshold=0.95)
    assert 'selected_acc' not in stats and stats['selected_ratio'] == 0
    assert selection_statistics(
        handmade_record(with_gt=False), threshold=0.95).keys() == STATISTICS


def _has_colour(image, rgb, tolerance=30):
    return bool((np.abs(image.astype(int) - rgb).max(axis=-1) < tolerance).any())


def test_plot_colours_pixels_by_correctness_or_reliability():
    with_gt = plot_selection(handmade_record(), max_points=100)
    without_gt = plot_selection(handmade_record(with_gt=False), max_points=1)

    for image in (with_gt, without_gt):
        assert image.dtype == np.uint8 and image.ndim == 3
        assert image.shape[2] == 3
    assert _has_colour(with_gt, (214, 39, 40))  # incorrect: tab:red
    assert _has_colour(with_gt, (44, 160, 44))  # correct: tab:green


def test_hook_logs_writes_json_and_plots_in_a_runner(tmp_path):
    runner = semi_runner(
        tmp_path,
        semi_segmentor_cfg(),
        [
            {
                'type': 'CSLSelectorHook',
                'interval': 1,
                'threshold': 0.0,
                'plot_interval': 2,
            }
        ],
        max_iters=3,
        weak_gt=True,
        visualizer={
            'type': 'Visualizer',
            'vis_backends': [{'type': 'LocalVisBackend'}],
        })
    runner.train()

    with open(osp.join(runner.log_dir, 'csl_selection.json')) as f:
        summary = json.load(f)
    history = summary['history']
    assert [entry['iter'] for entry in history] == [1, 2, 3]
    assert set(history[-1]) == STATISTICS | ACCURACIES | COUNTS | {'iter'}
    record = runner.model.last_selection
    assert history[-1]['valid_pixels'] == int(record.valid.sum()) > 0
    assert history[-1]['selected_pixels'] == int(
        (record.result.reliable & record.valid).sum())
    # Threshold 0 selects every valid pixel.
    assert history[-1]['threshold_ratio'] == 1
    assert history[-1]['threshold_acc'] == history[-1]['valid_acc']
    for name in STATISTICS | ACCURACIES:
        logged = runner.message_hub.get_scalar(f'train/csl/{name}')
        assert logged.current() == pytest.approx(history[-1][name])
        assert len(logged.data[0]) == 3
    log_file, = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(log_file) as f:
        assert 'csl/selected_ratio' in f.read()
    images = glob.glob(
        osp.join(runner.log_dir, '**', 'csl_selection_*.png'), recursive=True)
    assert [osp.basename(path) for path in images] == ['csl_selection_2.png']
    assert mmcv.imread(images[0]).ndim == 3


def test_hook_needs_a_model_that_records_its_selection():
    hook = CSLSelectorHook()
    hook.before_train(SimpleNamespace(
        model=MODELS.build(semi_segmentor_cfg())))
    with pytest.raises(RuntimeError, match='SemiSegmentor'):
        hook.before_train(SimpleNamespace(
            model=MODELS.build(tiny_segmentor_cfg())))


@pytest.mark.parametrize('kwargs', [
    {'interval': 0},
    {'threshold': 1.5},
    {'plot_interval': 0},
    {'max_plot_points': 0}
])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        CSLSelectorHook(**kwargs)


def semi_experiment(data_root, max_iters: int) -> dict:
    """The tiny semi-supervised experiment with the hook logging every
    iteration (threshold 0.5), weights-only checkpoint loading and a
    checkpoint at ``max_iters``."""
    cfg = tiny_semi_experiment_config(data_root, max_iters=max_iters,
                                      num_unlabeled=16)
    cfg['custom_hooks'].append(
        {'type': 'CSLSelectorHook', 'interval': 1, 'threshold': 0.5})
    cfg['default_hooks']['safe_checkpoint_loading'] = {
        'type': 'SafeCheckpointLoadingHook'}
    cfg['default_hooks']['divergence_check'] = {'type': 'DivergenceCheckHook'}
    return cfg


def json_histories(work_dir: Path) -> List[List[dict]]:
    """The history of every run in ``work_dir``, in the order of the runs."""
    paths = sorted(work_dir.glob('*/csl_selection.json'))
    return [json.loads(path.read_text())['history'] for path in paths]


def test_history_continues_across_a_resume_and_not_a_load(tmp_path):
    work_dir = tmp_path / 'work'

    def train(max_iters: int, name: str, **options) -> None:
        cfg = semi_experiment(tmp_path / 'data', max_iters)
        cfg.update(work_dir=str(work_dir), experiment_name=name,
                   log_level='WARNING', **options)
        Runner.from_cfg(Config(cfg)).train()

    train(2, 'first')
    train(3, 'resumed', resume=True)
    train(1, 'loaded', load_from=str(work_dir / 'iter_2.pth'))

    first, resumed, loaded = json_histories(work_dir)
    assert [entry['iter'] for entry in first] == [1, 2]
    assert [entry['iter'] for entry in resumed] == [1, 2, 3]
    assert resumed[:2] == first
    assert [entry['iter'] for entry in loaded] == [1]


def test_counts_are_summed_over_ranks_and_continue_across_a_resume(tmp_path):
    """Two gloo processes (tools/dist_train.sh), 2 iterations, then resumed
    for a third: rank 0's file reports, per iteration, the counts of both
    ranks' selections added up."""
    work_dir = tmp_path / 'work'
    hooks = [{'type': 'RecordSelectionCountsHook', 'threshold': 0.5}]
    counts_per_run = []
    for max_iters, resume in ((2, []), (3, ['--resume'])):
        cfg = semi_experiment(tmp_path / 'data', max_iters)
        cfg['custom_imports']['imports'].append('tests.record_samples_hook')
        cfg['custom_hooks'] += hooks
        config = dump_config(cfg, tmp_path / f'semi_{max_iters}.py')
        run_tool(['dist_train.sh', config, '2', '--work-dir', work_dir, *resume],
                 env={'PORT': str(free_port())})
        counts_per_run.append([
            json.loads((work_dir / f'selection_counts_rank{rank}.json').read_text())
            for rank in (0, 1)])

    first, resumed = json_histories(work_dir)
    assert resumed[:2] == first
    assert [entry['iter'] for entry in resumed] == [1, 2, 3]
    for entry in resumed:
        run = 0 if entry['iter'] <= 2 else 1
        ranks = [counts[str(entry['iter'])] for counts in counts_per_run[run]]
        # Each rank trained one unlabeled 32x32 image per iteration.
        assert all(rank['images'] == 1 for rank in ranks)
        for name in ('valid_pixels', 'selected_pixels', 'thresholded_pixels',
                     'images'):
            assert entry[name] == sum(rank[name] for rank in ranks), name
        assert entry['selected_ratio'] == pytest.approx(
            entry['selected_pixels'] / entry['valid_pixels'])
