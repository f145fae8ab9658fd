"""The report of benchmarks/camvid/run.py: results.md and the training curves."""
import json
import math
import os.path as osp
from typing import Dict, List, Optional

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

# Variant key -> name in the report, in report order.
VARIANT_NAMES = {
    'supervised': 'supervised-only',
    'unimatch': 'UniMatch (threshold 0.95)',
    'csl': 'CSL release',
    'csl-masking': 'CSL masking version',
}


def number(value: Optional[float], digits: int = 2) -> str:
    """``value`` rounded, or ``n/a`` for None and NaN."""
    if value is None or math.isnan(value):
        return 'n/a'
    return f'{value:.{digits}f}'


def read_scalars(log_dir: str) -> List[dict]:
    """The records of mmengine's ``vis_data/scalars.json`` in ``log_dir``."""
    with open(osp.join(log_dir, 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_curves(runs: Dict[str, Dict[str, dict]], out_file: str) -> None:
    """Training loss and validation mIoU against the iteration, one row of
    plots per split, one line per variant.

    Args:
        runs: split -> variant key -> result of ``train_job`` (``log_dir``).
        out_file: PNG file to write.
    """
    fig, axes = plt.subplots(len(runs), 2, figsize=(11, 3.6 * len(runs)),
                             squeeze=False)
    for row, (split, variants) in zip(axes, runs.items()):
        for variant, result in variants.items():
            records = read_scalars(result['log_dir'])
            for axis, key in zip(row, ('loss', 'mIoU')):
                points = [(r['step'], r[key]) for r in records if key in r]
                if points:
                    axis.plot(*zip(*points), marker='.' if key == 'mIoU' else None,
                              label=VARIANT_NAMES[variant])
        row[0].set(title=f'{split}: training loss (total)', xlabel='iteration')
        row[1].set(title=f'{split}: validation mIoU (%)', xlabel='iteration')
        for axis in row:
            axis.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def iou_table(runs: Dict[str, Dict[str, dict]]) -> List[str]:
    """Markdown rows: per split and variant, the test mIoU, per-class IoU,
    times and peak memory."""
    classes = list(next(iter(next(iter(runs.values())).values()))['class_iou'])
    header = (['split', 'method', 'mIoU'] + classes +
              ['train time (s)', 's / iter', 'test time (s)', 'peak memory (MiB)'])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for split, variants in runs.items():
        for variant, result in variants.items():
            cells = ([split, VARIANT_NAMES[variant], number(result['mIoU'])] +
                     [number(result['class_iou'][c]) for c in classes] +
                     [number(result['train_s'], 0), number(result['iter_s']),
                      number(result['test_s'], 0), number(result['peak_rss_mib'], 0)])
            lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def selection_tables(split: str, quality: dict) -> List[str]:
    """Markdown for one split's selection analysis: a summary row per
    checkpoint, then coverage / precision / recall per rule."""
    lines = [f'### Split {split}', '',
             '| checkpoint | pixels | pseudo-label accuracy | AUROC CSL weight | '
             'AUROC max confidence |', '|---|---|---|---|---|']
    for name, stats in quality['checkpoints'].items():
        lines.append(f'| {name} | {stats["pixels"]} | '
                     f'{number(stats["pseudo_label_accuracy"], 4)} | '
                     f'{number(stats["auroc_csl_weight"], 4)} | '
                     f'{number(stats["auroc_max_confidence"], 4)} |')
    lines += ['', '| checkpoint | rule | coverage | precision | recall |',
              '|---|---|---|---|---|']
    for name, stats in quality['checkpoints'].items():
        for rule, values in stats['rules'].items():
            lines.append(f'| {name} | {rule} | {number(values["coverage"], 4)} | '
                         f'{number(values["precision"], 4)} | '
                         f'{number(values["recall"], 4)} |')
    return lines + ['']


def results_markdown(setup: List[str], runs: Dict[str, Dict[str, dict]],
                     selection: Dict[str, dict]) -> str:
    """The whole results.md: the setup lines, the test table, the selection
    analysis and the figures."""
    frames = next(iter(next(iter(runs.values())).values()))['test_frames']
    lines = ['# CamVid semi-supervised benchmark on CPU', '', *setup, '',
             f'## Test split ({frames} frames, 360x480): IoU (%)', '',
             *iou_table(runs),
             '', '## Pseudo-label selection on unlabeled training frames', '',
             'From the checkpoints of the CSL release run: the pseudo-labels of '
             'whole unlabeled frames against their ground truth (void pixels left '
             'out). Rules: CSL\'s reliable pixels (weight 1) and fixed confidence '
             'thresholds. Coverage: selected / annotated pixels; precision: '
             'P(correct | selected); recall: P(selected | correct); AUROC: the score '
             'as a detector of correct pseudo-labels (ties count one half). n/a: '
             'nothing selected.', '']
    for split, quality in selection.items():
        lines += selection_tables(split, quality)
    lines += ['## Figures', '',
              '- `curves.png`: training loss and validation mIoU of every run.',
              '- `selection_scatter/<split>/selection_scatter_<checkpoint>.png`: max '
              'confidence against scaled residual variance of one unlabeled frame, '
              'correct and incorrect pseudo-labels, CSL\'s boundary.', '']
    return '\n'.join(lines)
