"""How well pseudo-label selection rules separate right from wrong pseudo-labels.

The statistics and the model loop behind ``tools/analysis_tools/selection_quality.py``
and ``benchmarks/camvid/run.py``. A model predicts whole labeled frames (the test
pipeline); its arg-max classes are the pseudo-labels and the ground truth says
which are correct. Pixels whose ground truth is void are left out of every
statistic; the selectors see every pixel of a frame as valid, as in training.

For each selection rule (CSL's reliable pixels, weight 1, of each CSL version; a
fixed threshold on the maximum confidence): the coverage (selected / annotated
pixels), the precision P(correct | selected) and the recall P(selected | correct).
For each CSL version also the AUROC of its weight as a score of correctness and
the precision of the confidence-threshold rule at the same coverage, read off the
threshold curve (:func:`precision_at_coverage`): CSL lies above the confidence
trade-off where its precision is higher. The AUROC of the raw maximum confidence
is reported once.
"""
import math
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

CSL_SELECTORS = {
    'csl': dict(type='CSLSelector', variant='release'),
    'csl-masking': dict(type='CSLSelector', variant='masking'),
}
CSL_NAMES = {'csl': 'CSL release', 'csl-masking': 'CSL masking version'}
DEFAULT_SELECTORS = ('csl', 'csl-masking', '0.8', '0.9', '0.95', '0.99')
IGNORE_INDEX = 255


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positive``.

    The Mann-Whitney form: the probability that a random positive scores
    higher than a random negative, ties counting one half (tied scores share
    their mean rank), so a score with many ties, such as CSL's weight (1 on
    every reliable pixel), is measured fairly.

    Raises:
        ValueError: shapes differ, or the positives or the negatives are
            missing (the area is then undefined).
    """
    scores, positive = np.ravel(scores), np.ravel(positive).astype(bool)
    if scores.shape != positive.shape:
        raise ValueError(f'scores has {scores.size} values but positive has '
                         f'{positive.size}')
    num_pos = int(positive.sum())
    num_neg = positive.size - num_pos
    if num_pos == 0 or num_neg == 0:
        raise ValueError(f'AUROC needs positives and negatives, got {num_pos} '
                         f'positives and {num_neg} negatives')
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # 1-based ranks of sorted values; a run of equal values shares its mean rank
    mean_rank = np.cumsum(counts) - (counts - 1) / 2
    rank_sum = mean_rank[inverse][positive].sum(dtype=np.float64)
    return float((rank_sum - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


def safe_auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """:func:`auroc`, NaN where it is undefined (all right or all wrong)."""
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return float('nan')
    return auroc(scores, positive)


def precision_recall(selected: np.ndarray,
                     correct: np.ndarray) -> Tuple[float, float]:
    """Precision P(correct | selected) and recall P(selected | correct); NaN
    where the condition is empty (nothing selected, or nothing correct)."""
    selected, correct = np.asarray(selected, bool), np.asarray(correct, bool)
    if selected.shape != correct.shape:
        raise ValueError(f'selected has shape {selected.shape} but correct has '
                         f'{correct.shape}')
    hits = np.count_nonzero(selected & correct)
    num_selected, num_correct = np.count_nonzero(selected), np.count_nonzero(correct)
    precision = hits / num_selected if num_selected else float('nan')
    recall = hits / num_correct if num_correct else float('nan')
    return precision, recall


def rule_statistics(selected: np.ndarray, correct: np.ndarray) -> Dict[str, float]:
    """Coverage, precision and recall of one selection rule (bool arrays)."""
    precision, recall = precision_recall(selected, correct)
    return dict(coverage=float(np.count_nonzero(selected) / selected.size),
                precision=precision, recall=recall)


def threshold_curve(conf: np.ndarray,
                    correct: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The confidence-threshold rule at every threshold the data allow.

    Returns:
        tuple: (thresholds, coverage, precision), one entry per distinct
        confidence in decreasing order: selecting ``conf >= thresholds[i]``
        covers ``coverage[i]`` of the pixels with precision ``precision[i]``.
    """
    conf, correct = np.ravel(conf), np.ravel(correct).astype(bool)
    order = np.argsort(-conf, kind='stable')
    conf, correct = conf[order], correct[order]
    hits = np.cumsum(correct, dtype=np.float64)
    # the last index of each run of equal confidences
    last = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    count = last + 1.0
    return conf[last], count / conf.size, hits[last] / count


def precision_at_coverage(conf: np.ndarray, correct: np.ndarray,
                          coverage: float) -> float:
    """Precision of the confidence-threshold rule that covers ``coverage`` of
    the pixels, read off :func:`threshold_curve`.

    Between two thresholds the data allow (a run of tied confidences), the
    number of correct selected pixels is interpolated linearly, as if the tie
    were broken at random; NaN for a coverage of 0.
    """
    if not 0 <= coverage <= 1:
        raise ValueError(f'coverage must lie in [0, 1], got {coverage}')
    if coverage == 0:
        return float('nan')
    _, cov, prec = threshold_curve(conf, correct)
    count = np.concatenate([[0.0], cov])
    hits = np.concatenate([[0.0], cov * prec])
    return float(np.interp(coverage, count, hits) / coverage)


def selector_name(spec: str) -> str:
    """The report's name of a ``--selectors`` entry."""
    if spec in CSL_SELECTORS:
        return CSL_NAMES[spec]
    return f'confidence >= {float(spec):.2f}'


def parse_selectors(specs: Iterable[str]) -> Tuple[List[str], List[float]]:
    """``--selectors`` entries -> (CSL versions, thresholds); a CSL version is
    ``csl`` or ``csl-masking``, a threshold a number in [0, 1]."""
    versions, thresholds = [], []
    for spec in specs:
        if spec in CSL_SELECTORS:
            versions.append(spec)
            continue
        try:
            tau = float(spec)
        except ValueError:
            raise ValueError(f'selector {spec!r}: expected one of '
                             f'{sorted(CSL_SELECTORS)} or a threshold') from None
        if not 0 <= tau <= 1:
            raise ValueError(f'threshold {spec} must lie in [0, 1]')
        thresholds.append(tau)
    return versions, thresholds


def selection_quality(conf: np.ndarray, correct: np.ndarray,
                      csl_weights: Dict[str, np.ndarray],
                      thresholds: Sequence[float]) -> dict:
    """The statistics of the module docstring from the annotated pixels' max
    confidence, correctness and the weight of each CSL version ((N,) each)."""
    correct = np.asarray(correct, bool)
    rules, csl = {}, {}
    for version, weight in csl_weights.items():
        stats = rule_statistics(weight == 1, correct)
        rules[selector_name(version)] = stats
        csl[version] = dict(
            stats,
            auroc_weight=safe_auroc(weight, correct),
            threshold_precision_at_coverage=precision_at_coverage(
                conf, correct, stats['coverage']))
    for tau in thresholds:
        rules[selector_name(str(tau))] = rule_statistics(conf >= tau, correct)
    return dict(pixels=int(correct.size),
                pseudo_label_accuracy=float(correct.mean()),
                auroc_max_confidence=safe_auroc(conf, correct),
                csl=csl, rules=rules)


@torch.no_grad()
def collect_pixels(model, selectors: Dict[str, Callable], frames: Iterable,
                   plot_frame: Optional[int] = None):
    """Predict ``frames`` (samples of a dataset with the test pipeline) with
    ``model`` and run each selector on the class probabilities.

    Returns:
        tuple: (conf, correct, weights by selector name, records), the arrays
        over the annotated pixels of all frames; ``records`` maps each selector
        to the :class:`SelectionRecord` of frame ``plot_frame`` (for
        :func:`plot_selection`), empty when it is None.
    """
    from mmengine.dataset import pseudo_collate

    from mmseg_csl.models.selectors import SelectionRecord
    conf, correct, records = [], [], {}
    weights: Dict[str, list] = {name: [] for name in selectors}
    for index, frame in enumerate(frames):
        sample = model.test_step(pseudo_collate([frame]))[0]
        probs = sample.seg_logits.data.float().softmax(0)[None]
        gt = sample.gt_sem_seg.data.long()
        annotated = gt[0] != IGNORE_INDEX
        max_conf, label = probs[0].max(0)
        conf.append(max_conf[annotated].numpy())
        correct.append((label == gt[0])[annotated].numpy())
        for name, selector in selectors.items():
            result = selector(probs)
            weights[name].append(result.weight[0][annotated].numpy())
            if index == plot_frame:
                records[name] = SelectionRecord(
                    result=result, valid=torch.ones_like(gt, dtype=torch.bool),
                    gt_sem_seg=gt, ignore_index=IGNORE_INDEX)
    return (np.concatenate(conf), np.concatenate(correct),
            {name: np.concatenate(w) for name, w in weights.items()}, records)


def plot_curves(conf: np.ndarray, correct: np.ndarray, quality: dict,
                out_file: str, title: str = '') -> None:
    """Precision against coverage of the confidence-threshold rule (the
    curve), with each CSL version's and each fixed threshold's point."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    thresholds, coverage, precision = threshold_curve(conf, correct)
    keep = np.unique(np.linspace(0, len(coverage) - 1, 2000).round().astype(int))
    fig, axis = plt.subplots(figsize=(5.5, 4.2))
    axis.plot(coverage[keep], precision[keep], color='gray',
              label='confidence threshold (all thresholds)')
    for name, stats in quality['rules'].items():
        if not math.isnan(stats['precision']):
            marker = '*' if name.startswith('CSL') else 'o'
            axis.plot(stats['coverage'], stats['precision'], marker,
                      markersize=12 if marker == '*' else 6, label=name)
    axis.set(xlabel='coverage (selected / annotated pixels)',
             ylabel='precision P(correct | selected)', xlim=(0, 1.02),
             title=title or 'pseudo-label selection')
    axis.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
