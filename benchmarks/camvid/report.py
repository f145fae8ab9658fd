"""The report of benchmarks/camvid/run.py: results.md and the training curves.

Statistics over seeds: the mean and the sample standard deviation (ddof 1; n/a
for one seed). Paired differences: a method's test mIoU minus the threshold-0.95
baseline's (``unimatch``) on the same seed, that is the same labeled split and
the same training seed, then their mean and standard deviation.
"""
import math
import os.path as osp
import statistics
from typing import Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from mmseg_csl.utils import markdown_table, number, read_scalars  # noqa: E402

# Method key -> name in the report, in report order.
METHOD_NAMES = {
    'supervised': 'supervised-only',
    'unimatch': 'UniMatch (threshold 0.95)',
    'unimatch-t0': 'UniMatch, threshold 0 (every pseudo-label)',
    'csl': 'CSL release',
    'csl-masking': 'CSL masking version',
}
BASELINE = 'unimatch'
# runs / selection: method -> seed -> result
Results = Dict[str, Dict[int, dict]]


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (NaN below two values; NaN for no
    value), NaN values left out."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return float('nan'), float('nan')
    std = statistics.stdev(values) if len(values) > 1 else float('nan')
    return statistics.fmean(values), std


def pm(values: Sequence[float], digits: int = 2) -> str:
    """``mean ± std`` of ``values``."""
    mean, std = mean_std(values)
    if math.isnan(std):
        return number(mean, digits)
    return f'{number(mean, digits)} ± {number(std, digits)}'


def paired_differences(runs: Results, key: str = 'mIoU',
                       baseline: str = BASELINE) -> Dict[str, Dict[int, float]]:
    """Per method (the baseline's own left out), seed -> its ``key`` minus the
    baseline's on that seed, for the seeds both have."""
    base = runs.get(baseline, {})
    return {method: {seed: result[key] - base[seed][key]
                     for seed, result in sorted(seeds.items()) if seed in base}
            for method, seeds in runs.items() if method != baseline}


def plot_curves(runs: Results, out_file: str) -> None:
    """Training loss and validation mIoU against the iteration, one colour
    per method, one line per seed."""
    fig, row = plt.subplots(1, 2, figsize=(11, 3.8))
    for colour, (method, seeds) in enumerate(runs.items()):
        for n, (_, result) in enumerate(sorted(seeds.items())):
            records = read_scalars(osp.dirname(result['log_dir']))
            for axis, key in zip(row, ('loss', 'mIoU')):
                points = [(r['step'], r[key]) for r in records if key in r]
                if points:
                    axis.plot(*zip(*points), color=f'C{colour}',
                              marker='.' if key == 'mIoU' else None, alpha=0.7,
                              label=METHOD_NAMES[method] if n == 0 else None)
    row[0].set(title='training loss (total)', xlabel='iteration')
    row[1].set(title='validation mIoU (%)', xlabel='iteration')
    for axis in row:
        axis.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def miou_table(runs: Results, seeds: Sequence[int]) -> List[str]:
    """Test mIoU per seed, mean ± std, the paired difference against the
    baseline, seconds per iteration and training time."""
    diffs = paired_differences(runs)
    header = (['method'] + [f'seed {s}' for s in seeds] +
              ['mean ± std', f'minus {METHOD_NAMES[BASELINE]}: mean ± std',
               's / iter', 'train time (s)'])
    rows = []
    for method, results in runs.items():
        diff = ('(baseline)' if method == BASELINE else
                pm(list(diffs[method].values())) if diffs[method] else 'n/a')
        per_seed = [number(results[s]['mIoU']) if s in results else ''
                    for s in seeds]
        rows.append([METHOD_NAMES[method], *per_seed,
                     pm([r['mIoU'] for r in results.values()]), diff,
                     pm([r['iter_s'] for r in results.values()], 3),
                     pm([r['train_s'] for r in results.values()], 0)])
    return markdown_table(header, rows).splitlines()


def difference_table(runs: Results, seeds: Sequence[int]) -> List[str]:
    """The paired differences seed by seed."""
    diffs = paired_differences(runs)
    header = ['method'] + [f'seed {s}' for s in seeds] + ['mean', 'std']
    rows = []
    for method, per_seed in diffs.items():
        mean, std = mean_std(list(per_seed.values()))
        rows.append([METHOD_NAMES[method]] +
                    [number(per_seed[s]) if s in per_seed else '' for s in seeds] +
                    [number(mean), number(std)])
    return markdown_table(header, rows).splitlines()


def class_table(runs: Results) -> List[str]:
    """Mean per-class IoU over seeds."""
    first = next(iter(next(iter(runs.values())).values()))
    classes = list(first['class_iou'])
    rows = [[METHOD_NAMES[method]] +
            [number(mean_std([r['class_iou'][c] for r in results.values()])[0])
             for c in classes]
            for method, results in runs.items()]
    return markdown_table(['method', *classes], rows).splitlines()


def selection_tables(selection: Results) -> List[str]:
    """Per method and CSL version, mean ± std over seeds of coverage,
    precision, recall, AUROC of the weight, and the threshold rule's
    precision at the same coverage; then every fixed threshold's rule."""
    rows = []
    for method, seeds in selection.items():
        qualities = list(seeds.values())
        for version in qualities[0]['csl']:
            stats = [q['csl'][version] for q in qualities]
            cells = [METHOD_NAMES[method], METHOD_NAMES[version]] + [
                pm([s[k] for s in stats], 4) for k in
                ('coverage', 'precision', 'recall', 'threshold_precision_at_coverage')]
            cells.append(pm([s['precision'] - s['threshold_precision_at_coverage']
                             for s in stats], 4))
            cells.append(pm([s['auroc_weight'] for s in stats], 4))
            cells.append(pm([q['auroc_max_confidence'] for q in qualities], 4))
            cells.append(pm([q['pseudo_label_accuracy'] for q in qualities], 4))
            rows.append(cells)
    rule_rows = []
    for method, seeds in selection.items():
        qualities = list(seeds.values())
        for rule in qualities[0]['rules']:
            stats = [q['rules'][rule] for q in qualities]
            rule_rows.append([METHOD_NAMES[method], rule] + [
                pm([s[k] for s in stats], 4)
                for k in ('coverage', 'precision', 'recall')])
    return [*markdown_table(
        ['method (checkpoint)', 'selection by', 'coverage', 'precision', 'recall',
         'threshold precision at that coverage', 'precision minus it',
         'AUROC CSL weight', 'AUROC max confidence', 'pseudo-label accuracy'],
        rows).splitlines(), '', *markdown_table(
            ['method (checkpoint)', 'rule', 'coverage', 'precision', 'recall'],
            rule_rows).splitlines()]


def results_markdown(setup: List[str], runs: Results, selection: Results) -> str:
    """The whole results.md."""
    seeds = sorted({seed for results in runs.values() for seed in results})
    frames = next(iter(next(iter(runs.values())).values()))['test_frames']
    lines = ['# CamVid semi-supervised benchmark on CPU: 1/8, several seeds', '',
             *setup, '',
             f'## Test mIoU (%) on {frames} frames at 360x480', '',
             'Mean ± sample standard deviation over seeds; the difference is '
             'paired: each seed\'s run minus the threshold-0.95 run of the same '
             'seed (same split, same training seed). s / iter: the median logged '
             'iteration time of each run, mean ± std over seeds.', '',
             *miou_table(runs, seeds), '',
             f'### Paired differences against {METHOD_NAMES[BASELINE]}, per seed',
             '', *difference_table(runs, seeds), '',
             '### Per-class IoU (%), mean over seeds', '', *class_table(runs), '']
    if selection:
        lines += ['## Pseudo-label selection on unlabeled training frames', '',
                  'Each method\'s last checkpoint predicts whole unlabeled frames '
                  'of its seed\'s split; their ground truth (void left out) says '
                  'which pseudo-labels are right. Coverage: selected / annotated '
                  'pixels; precision P(correct | selected); recall P(selected | '
                  'correct); AUROC: the score as a detector of correct '
                  'pseudo-labels (ties count one half). "Threshold precision at '
                  'that coverage": the confidence-threshold rule that selects as '
                  'many pixels as CSL, read off its curve; CSL selects better than '
                  'a threshold where "precision minus it" is positive. Mean ± std '
                  'over seeds; n/a: nothing selected.', '',
                  *selection_tables(selection), '']
    lines += ['## Figures', '',
              '- `curves.png`: training loss and validation mIoU of every run.',
              '- `runs/seed<k>/<method>/selection/`: `curves.png` (precision '
              'against coverage of every confidence threshold, each rule a point) '
              'and `scatter_<csl version>.png` (the paper\'s Figure 1 from that '
              'model).', '']
    return '\n'.join(lines)
