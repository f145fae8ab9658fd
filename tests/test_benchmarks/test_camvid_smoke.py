"""benchmarks/camvid and mmseg_csl.analysis.selection_quality: the selection
metrics, the report's statistics on synthetic results, the command's smoke run
(every method, an interrupted and resumed run) and the analysis tool on a tiny
checkpoint trained here."""
import itertools
import json
import math
import os
import subprocess
import sys
from typing import List

import numpy as np
import pytest

from benchmarks.camvid.report import (
    mean_std,
    paired_differences,
    results_markdown,
)
from benchmarks.camvid.run import parse_args
from mmseg_csl.analysis.selection_quality import (
    auroc,
    precision_at_coverage,
    precision_recall,
    selection_quality,
    threshold_curve,
)
from tests.data_utils import prepared_camvid
from tests.tool_utils import REPO_ROOT

METHODS = ('supervised-only', 'UniMatch (threshold 0.95)',
           'UniMatch, threshold 0 (every pseudo-label)', 'CSL release',
           'CSL masking version')
RULES = ('CSL release', 'CSL masking version', *(
    f'confidence >= {tau}' for tau in ('0.00', '0.80', '0.90', '0.95', '0.99')))


def pairwise_auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """AUROC by its definition: over all (positive, negative) pairs, 1 where
    the positive scores higher, 1/2 for a tie."""
    wins = [1.0 if p > n else 0.5 if p == n else 0.0 for p, n in
            itertools.product(scores[positive], scores[~positive])]
    return float(np.mean(wins))


def test_auroc_of_perfect_reversed_and_constant_scores():
    positive = np.array([False, False, True, True])
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), positive) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), positive) == 0.0
    assert auroc(np.full(4, 0.5), positive) == 0.5


def test_auroc_counts_a_tie_as_one_half():
    # pairs (positive, negative): 0.8 > 0.5, 0.8 > 0.2, 0.5 = 0.5, 0.5 > 0.2
    scores = np.array([0.8, 0.5, 0.5, 0.2])
    assert auroc(scores, np.array([True, True, False, False])) == 3.5 / 4


def test_auroc_equals_the_pairwise_definition_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 300) / 4  # 5 distinct values: ties everywhere
    positive = rng.random(300) < scores * 0.8
    assert auroc(scores, positive) == pytest.approx(
        pairwise_auroc(scores, positive), abs=1e-12)


def test_auroc_refuses_a_single_class_and_mismatched_sizes():
    with pytest.raises(ValueError, match='3 positives and 0 negatives'):
        auroc(np.array([0.1, 0.2, 0.3]), np.ones(3, bool))
    with pytest.raises(ValueError, match='3 values but positive has 2'):
        auroc(np.array([0.1, 0.2, 0.3]), np.array([True, False]))


def test_precision_and_recall_by_hand():
    selected = np.array([True, True, True, False, False, False])
    correct = np.array([True, True, False, True, False, False])
    assert precision_recall(selected, correct) == (2 / 3, 2 / 3)
    assert precision_recall(selected, np.ones(6, bool)) == (1.0, 0.5)


def test_precision_is_nan_when_nothing_is_selected():
    precision, recall = precision_recall(np.zeros(4, bool),
                                         np.array([True, False, True, False]))
    assert math.isnan(precision) and recall == 0.0
    with pytest.raises(ValueError, match='shape'):
        precision_recall(np.zeros(4, bool), np.zeros(3, bool))


def test_selection_quality_compares_csl_with_each_threshold():
    conf = np.array([0.99, 0.96, 0.91, 0.85, 0.50])
    weight = np.array([1.0, 1.0, 1.0, 0.3, 0.1])
    correct = np.array([True, True, False, True, False])
    stats = selection_quality(conf, correct, {'csl': weight}, thresholds=(0.9, 0.95))

    assert stats['pixels'] == 5 and stats['pseudo_label_accuracy'] == 0.6
    assert list(stats['rules']) == ['CSL release', 'confidence >= 0.90',
                                    'confidence >= 0.95']
    assert stats['rules']['CSL release'] == dict(coverage=0.6, precision=2 / 3,
                                                 recall=2 / 3)
    assert stats['rules']['confidence >= 0.95'] == dict(coverage=0.4, precision=1.0,
                                                        recall=2 / 3)
    # correct pixels score 0.99, 0.96, 0.85 against 0.91, 0.50: 5 of 6 pairs
    assert stats['auroc_max_confidence'] == 5 / 6
    # weights 1, 1, 0.3 against 1, 0.1: two ties and three wins of 6 pairs
    assert stats['csl']['csl']['auroc_weight'] == 4 / 6
    # CSL covers 3 of 5, as the threshold 0.91 does: the same pixels here
    assert stats['csl']['csl']['threshold_precision_at_coverage'] == 2 / 3


def test_threshold_curve_and_precision_at_equal_coverage():
    conf = np.array([0.9, 0.8, 0.8, 0.7, 0.6])
    correct = np.array([True, True, False, True, False])
    thresholds, coverage, precision = threshold_curve(conf, correct)
    assert thresholds.tolist() == [0.9, 0.8, 0.7, 0.6]
    assert coverage.tolist() == [0.2, 0.6, 0.8, 1.0]
    assert precision.tolist() == pytest.approx([1, 2 / 3, 3 / 4, 3 / 5])
    assert precision_at_coverage(conf, correct, 0.2) == pytest.approx(1.0)
    assert precision_at_coverage(conf, correct, 0.8) == pytest.approx(0.75)
    # 2 of 5 pixels: the top one and half of the 0.8 tie (one right, one
    # wrong): 1.5 hits expected of 2
    assert precision_at_coverage(conf, correct, 0.4) == pytest.approx(0.75)
    assert math.isnan(precision_at_coverage(conf, correct, 0.0))
    with pytest.raises(ValueError, match='coverage'):
        precision_at_coverage(conf, correct, 1.5)


def synthetic_result(miou: float, seed: int) -> dict:
    return dict(mIoU=miou, class_iou={'sky': miou + 1, 'road': miou - 1},
                iter_s=0.5 + seed / 10, train_s=100.0, test_frames=233,
                log_dir='/nonexistent/20260101_000000')


def synthetic_quality(coverage: float, precision: float, at_coverage: float) -> dict:
    csl = dict(coverage=coverage, precision=precision, recall=0.9,
               auroc_weight=0.7, threshold_precision_at_coverage=at_coverage)
    return dict(pixels=100, pseudo_label_accuracy=0.8, auroc_max_confidence=0.75,
                csl={'csl': csl},
                rules={'CSL release': {k: csl[k] for k in
                                       ('coverage', 'precision', 'recall')}})


def test_report_statistics_on_synthetic_results():
    mious = {'unimatch': [40.0, 42.0, 44.0], 'csl': [41.0, 42.5, 46.5],
             'supervised': [30.0, 33.0]}
    runs = {method: {seed: synthetic_result(m, seed) for seed, m in enumerate(values)}
            for method, values in mious.items()}
    assert mean_std(mious['unimatch']) == (42.0, 2.0)
    mean, std = mean_std([1.0])
    assert mean == 1.0 and math.isnan(std)
    diffs = paired_differences(runs)
    assert 'unimatch' not in diffs
    assert diffs['csl'] == {0: 1.0, 1: 0.5, 2: 2.5}
    assert diffs['supervised'] == {0: -10.0, 1: -9.0}  # seed 2 missing: unpaired
    assert mean_std(list(diffs['csl'].values())) == pytest.approx(
        (4 / 3, np.std([1.0, 0.5, 2.5], ddof=1)))

    selection = {'csl': {seed: synthetic_quality(0.5, p, a) for seed, (p, a) in
                         enumerate([(0.9, 0.8), (0.8, 0.85), (0.85, 0.8)])}}
    report = results_markdown(['- setup'], runs, selection)
    rows = {row[0]: row for row in tables_after(report, '## Test mIoU')[0]}
    assert rows['CSL release'][1:4] == ['41.00', '42.50', '46.50']
    assert rows['CSL release'][4] == f'43.33 ± {np.std([41, 42.5, 46.5], ddof=1):.2f}'
    assert rows['CSL release'][5] == f'1.33 ± {np.std([1, 0.5, 2.5], ddof=1):.2f}'
    assert rows['UniMatch (threshold 0.95)'][4:6] == ['42.00 ± 2.00', '(baseline)']
    assert rows['supervised-only'][3] == ''
    assert rows['supervised-only'][5] == '-9.50 ± 0.71'
    assert rows['UniMatch (threshold 0.95)'][6] == '0.600 ± 0.100'  # s / iter
    differences = {row[0]: row for row in tables_after(report, '### Paired')[0]}
    assert differences['CSL release'][1:] == ['1.00', '0.50', '2.50', '1.33', '1.04']
    classes = {row[0]: row[1:] for row in tables_after(report, '### Per-class')[0]}
    assert classes['CSL release'] == ['44.33', '42.33']
    csl_row, = tables_after(report, '## Pseudo-label selection')[0]
    assert csl_row[:2] == ['CSL release', 'CSL release']
    assert csl_row[3] == f'0.8500 ± {np.std([0.9, 0.8, 0.85], ddof=1):.4f}'
    assert csl_row[5] == f'0.8167 ± {np.std([0.8, 0.85, 0.8], ddof=1):.4f}'
    assert csl_row[6] == f'0.0333 ± {np.std([0.1, -0.05, 0.05], ddof=1):.4f}'


def test_iterations_must_fill_four_quarters(capsys):
    with pytest.raises(SystemExit):
        parse_args(['--iters', '6'])
    assert 'multiple of 4' in capsys.readouterr().err


def test_a_run_of_other_iterations_is_neither_skipped_nor_resumed(tmp_path):
    from mmengine.config import Config

    from benchmarks.camvid.run import check_iterations
    Config(dict(train_cfg=dict(max_iters=8))).dump(str(tmp_path / 'config.py'))
    check_iterations(str(tmp_path), 8)
    with pytest.raises(SystemExit, match='run with --iters 8, not 4'):
        check_iterations(str(tmp_path), 4)


def tables_after(report: str, heading: str) -> List[List[List[str]]]:
    """The markdown tables between ``heading`` and the next heading, each as
    its rows of cells, header and rule lines left out."""
    section = report[report.index(heading) + len(heading):]
    section = section.split('\n#', 1)[0]
    tables, rows = [], None
    for line in section.splitlines():
        if line.startswith('|'):
            rows = [] if rows is None else rows
            rows.append([cell.strip() for cell in line.strip('|').split('|')])
        elif rows is not None:
            tables.append(rows[2:])
            rows = None
    return tables + ([rows[2:]] if rows else [])


def finite(cell: str) -> bool:
    return math.isfinite(float(cell))


def run_benchmark(args: List[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ('CAMVID_ROOT',
                                                            'CAMVID_SPLITS')}
    result = subprocess.run([sys.executable, 'benchmarks/camvid/run.py', *args],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_smoke_run_reports_every_method_and_resumes(tmp_path):
    camvid = prepared_camvid()  # the smoke run trains on its frames
    out, cache = tmp_path / 'out', tmp_path / 'cache'
    common = ['--smoke', '--out', str(out), '--data-root', str(camvid),
              '--cache-dir', str(cache)]
    run_benchmark(common)
    assert not cache.exists()  # random weights: nothing downloaded
    report = (out / 'results.md').read_text()

    rows = tables_after(report, '## Test mIoU')[0]
    assert [row[0] for row in rows] == list(METHODS)
    for row in rows:
        # method | seed 0 | mean ± std | difference | s / iter | train time
        assert len(row) == 6 and finite(row[1]) and finite(row[2])
        assert row[3] == '(baseline)' if row[0] == METHODS[1] else finite(row[3])
        assert finite(row[4]) and finite(row[5])
    classes = tables_after(report, '### Per-class')[0]
    assert [len(row) for row in classes] == [1 + 11] * len(METHODS)
    csl_rows, rule_rows = tables_after(report, '## Pseudo-label selection')
    assert [row[:2] for row in csl_rows] == [
        [method, version] for method in METHODS
        for version in ('CSL release', 'CSL masking version')]
    for row in csl_rows:
        assert all(cell == 'n/a' or math.isfinite(float(cell)) for cell in row[2:])
    assert [row[1] for row in rule_rows] == list(RULES) * len(METHODS)
    assert (out / 'curves.png').stat().st_size > 0
    for method in ('supervised', 'unimatch', 'unimatch-t0', 'csl', 'csl-masking'):
        selection = out / 'runs' / 'seed0' / method / 'selection'
        assert (selection / 'scatter_csl.png').stat().st_size > 0
        assert (selection / 'curves.png').stat().st_size > 0
    results = json.loads((out / 'results.json').read_text())
    assert all(math.isfinite(run['0']['mIoU']) and run['0']['peak_rss_mib'] > 0
               for run in results['runs'].values())

    # Interrupt the supervised run after its third checkpoint (of 4): no
    # result, the last checkpoint iter_3. The rerun resumes it there and
    # skips the finished UniMatch run.
    supervised = out / 'runs' / 'seed0' / 'supervised'
    first_result = json.loads((supervised / 'result.json').read_text())
    for name in ('result.json', 'iter_4.pth'):
        (supervised / name).unlink()
    (supervised / 'last_checkpoint').write_text(str(supervised / 'iter_3.pth'))
    for path in (supervised / 'selection').iterdir():
        path.unlink()
    rerun = run_benchmark(common + ['--methods', 'supervised', 'unimatch'])
    assert 'supervised-only: training 4 iterations (resumed)' in rerun.stdout
    assert 'UniMatch (threshold 0.95): done before, skipped' in rerun.stdout
    job_log = (supervised / 'job.log').read_text()
    assert 'Auto resumed from the latest checkpoint' in job_log
    assert 'resumed epoch: 0, iter: 3' in job_log
    assert (supervised / 'iter_4.pth').exists()
    result = json.loads((supervised / 'result.json').read_text())
    assert math.isfinite(result['mIoU'])
    assert result['log_dir'] != first_result['log_dir']
    assert (supervised / 'selection' / 'selection_quality.json').exists()
    rows = tables_after((out / 'results.md').read_text(), '## Test mIoU')[0]
    assert [row[0] for row in rows] == list(METHODS[:2])
