"""benchmarks/camvid: the selection-quality metrics, and the command's smoke run."""
import itertools
import json
import math
import os
import subprocess
import sys
from typing import List

import numpy as np
import pytest

from benchmarks.camvid.run import parse_args
from benchmarks.camvid.selection_quality import (
    CSL_RULE,
    auroc,
    precision_recall,
    selection_quality,
)
from tests.data_utils import prepared_camvid
from tests.tool_utils import REPO_ROOT

VARIANTS = ('supervised-only', 'UniMatch (threshold 0.95)', 'CSL release',
            'CSL masking version')
THRESHOLD_RULES = tuple(f'confidence >= {tau}' for tau in ('0.80', '0.90', '0.95',
                                                            '0.99'))


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
    stats = selection_quality(conf, weight, correct, thresholds=(0.9, 0.95))

    assert stats['pixels'] == 5 and stats['pseudo_label_accuracy'] == 0.6
    assert list(stats['rules']) == [CSL_RULE, 'confidence >= 0.90',
                                    'confidence >= 0.95']
    assert stats['rules'][CSL_RULE] == dict(coverage=0.6, precision=2 / 3,
                                            recall=2 / 3)
    assert stats['rules']['confidence >= 0.95'] == dict(coverage=0.4, precision=1.0,
                                                        recall=2 / 3)
    # correct pixels score 0.99, 0.96, 0.85 against 0.91, 0.50: 5 of 6 pairs
    assert stats['auroc_max_confidence'] == 5 / 6
    # weights 1, 1, 0.3 against 1, 0.1: two ties and three wins of 6 pairs
    assert stats['auroc_csl_weight'] == 4 / 6


def test_iterations_must_fill_four_quarters(capsys):
    with pytest.raises(SystemExit):
        parse_args(['--iters', '6'])
    assert 'multiple of 4' in capsys.readouterr().err


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


def test_smoke_run_reports_every_variant_and_threshold(tmp_path):
    camvid = prepared_camvid()  # the smoke run trains on its frames
    env = {k: v for k, v in os.environ.items() if k not in ('CAMVID_ROOT',
                                                            'CAMVID_SPLITS')}
    cache = tmp_path / 'cache'
    result = subprocess.run(
        [sys.executable, 'benchmarks/camvid/run.py', '--smoke', '--out',
         str(tmp_path / 'out'), '--data-root', str(camvid), '--cache-dir',
         str(cache)], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not cache.exists()  # random weights: nothing downloaded
    out = tmp_path / 'out'
    report = (out / 'results.md').read_text()

    iou_rows, = tables_after(report, '## Test split')
    assert [row[1] for row in iou_rows] == list(VARIANTS)
    for row in iou_rows:
        assert row[0] == '1/8'
        assert all(finite(cell) for cell in row[2:]), row  # mIoU, 11 IoU, times, memory
        assert len(row) == 2 + 1 + 11 + 4

    summary, rule_rows = tables_after(report, '### Split 1/8')
    assert [row[0] for row in summary] == [f'iter_{i}' for i in (1, 2, 3, 4)]
    for row in summary:
        assert int(row[1]) > 0 and all(0 <= float(cell) <= 1 for cell in row[2:])
    for checkpoint in summary:
        rules = {row[1]: row[2:] for row in rule_rows if row[0] == checkpoint[0]}
        assert list(rules) == [CSL_RULE, *THRESHOLD_RULES]
        for coverage, precision, recall in rules.values():
            assert 0 <= float(coverage) <= 1 and 0 <= float(recall) <= 1
            assert precision == 'n/a' or 0 <= float(precision) <= 1

    assert (out / 'curves.png').stat().st_size > 0
    assert len(list((out / 'selection_scatter' / '1_8').glob('*.png'))) == 4
    results = json.loads((out / 'results.json').read_text())
    assert all(math.isfinite(run['mIoU']) and run['peak_rss_mib'] > 0
               for run in results['runs']['1/8'].values())
    for stats in results['selection']['1/8']['checkpoints'].values():
        for rule in stats['rules'].values():
            # precision is undefined (n/a in the report) exactly when nothing
            # is selected
            assert math.isnan(rule['precision']) == (rule['coverage'] == 0)
