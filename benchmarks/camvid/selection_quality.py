"""How well CSL's pseudo-label selection separates right from wrong pseudo-labels.

    python -m benchmarks.camvid.selection_quality CONFIG CHECKPOINT [CHECKPOINT ...]
        --out FILE.json [--images 80] [--thresholds 0.8 0.9 0.95 0.99]
        [--plot-dir DIR]

Run from the repository root. CONFIG is a semi-supervised CamVid config (its
unlabeled dataset is ``train_dataloader.dataset.datasets[1]``, its selector
``model.semi_train_cfg.selector``); each CHECKPOINT is a model trained with it.
``--images`` evenly spaced frames of the unlabeled split are predicted whole, as
the test split is (the weak view without augmentation), and their ground truth,
which training never reads, tells which pseudo-labels (arg-max classes) are
correct. Pixels whose ground truth is void are left out of every statistic; the
selector sees every pixel of the frame as valid, as in training.

Per checkpoint, over all pixels of all frames: for CSL's reliable pixels
(weight 1) and for each fixed confidence threshold tau (selected: max
confidence >= tau), the coverage (selected / annotated pixels), the precision
P(correct | selected) and the recall P(selected | correct); the AUROC of CSL's
weight and of the raw maximum confidence as scores of correctness. Writes the
numbers to FILE.json and, with ``--plot-dir``, one scatter plot per checkpoint
(max confidence against scaled residual variance of the middle frame, correct
and incorrect pixels, CSL's boundary; docs/method.md section 2 and the paper's
Figure 1) as ``selection_scatter_<checkpoint name>.png``.
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmseg.registry import DATASETS, MODELS, TASK_UTILS

import mmseg_csl  # noqa: F401  (registers the package's components)
from mmseg_csl.engine import safe_checkpoint_loading
from mmseg_csl.engine.hooks.csl_selector_hook import plot_selection
from mmseg_csl.models.selectors import SelectionRecord

CSL_RULE = 'CSL (weight 1)'
IGNORE_INDEX = 255


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positive``.

    The Mann-Whitney form: the probability that a random positive scores
    higher than a random negative, ties counting one half (tied scores share
    their mean rank), so a score with many ties, such as CSL's weight (1 on
    every reliable pixel), is measured fairly.

    Args:
        scores (np.ndarray): (N,) real scores.
        positive (np.ndarray): (N,) bool.

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


def precision_recall(selected: np.ndarray,
                     correct: np.ndarray) -> Tuple[float, float]:
    """Precision P(correct | selected) and recall P(selected | correct).

    Args:
        selected, correct (np.ndarray): bool arrays of one shape.

    Returns:
        tuple: (precision, recall); NaN where the condition is empty (nothing
        selected, or nothing correct).
    """
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


def selection_quality(conf: np.ndarray, weight: np.ndarray, correct: np.ndarray,
                      thresholds: Sequence[float]) -> dict:
    """The statistics of the module docstring for one checkpoint, from the
    annotated pixels' max confidence, CSL weight and correctness ((N,) each)."""
    rules = {CSL_RULE: rule_statistics(weight == 1, correct)}
    for tau in thresholds:
        rules[f'confidence >= {tau:.2f}'] = rule_statistics(conf >= tau, correct)
    return dict(
        pixels=int(correct.size),
        pseudo_label_accuracy=float(correct.mean()),
        auroc_csl_weight=auroc(weight, correct),
        auroc_max_confidence=auroc(conf, correct),
        rules=rules)


def unlabeled_frames(cfg: Config, num_images: int):
    """``num_images`` evenly spaced frames of the config's unlabeled split, with
    the test pipeline (whole frame, label map loaded)."""
    dataset_cfg = cfg.train_dataloader.dataset.datasets[1].copy()
    dataset_cfg.pipeline = cfg.test_dataloader.dataset.pipeline
    dataset = DATASETS.build(dataset_cfg)
    if num_images > len(dataset):
        raise ValueError(f'--images {num_images} exceeds the {len(dataset)} '
                         'frames of the unlabeled split')
    return [dataset[int(i)] for i in
            np.linspace(0, len(dataset) - 1, num_images).round()]


@torch.no_grad()
def analyse_checkpoint(model, selector, frames: list, thresholds: Sequence[float],
                       plot_file: Optional[str]) -> dict:
    """Predict ``frames`` with the loaded ``model``, select with ``selector``
    and return :func:`selection_quality`; plot the middle frame."""
    conf, weight, correct = [], [], []
    for index, frame in enumerate(frames):
        sample = model.test_step(pseudo_collate([frame]))[0]
        probs = sample.seg_logits.data.float().softmax(0)[None]
        result = selector(probs)
        gt = sample.gt_sem_seg.data.long()
        annotated = gt[0] != IGNORE_INDEX
        conf.append(result.max_conf[0][annotated].numpy())
        weight.append(result.weight[0][annotated].numpy())
        correct.append((result.pseudo_label[0] == gt[0])[annotated].numpy())
        if plot_file and index == len(frames) // 2:
            record = SelectionRecord(result=result,
                                     valid=torch.ones_like(gt, dtype=torch.bool),
                                     gt_sem_seg=gt, ignore_index=IGNORE_INDEX)
            image = plot_selection(record, max_points=20000)
            cv2.imwrite(plot_file, image[..., ::-1])
    return selection_quality(np.concatenate(conf), np.concatenate(weight),
                             np.concatenate(correct), thresholds)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--out', required=True, help='JSON file of the results')
    parser.add_argument('--images', type=int, default=80)
    parser.add_argument('--thresholds', type=float, nargs='+',
                        default=[0.8, 0.9, 0.95, 0.99])
    parser.add_argument('--plot-dir', help='where the scatter plots go')
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error('--images must be at least 1')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model).eval()
    selector = TASK_UTILS.build(cfg.model.semi_train_cfg.selector)
    frames = unlabeled_frames(cfg, args.images)
    if args.plot_dir:
        os.makedirs(args.plot_dir, exist_ok=True)
    results = {}
    for checkpoint in args.checkpoints:
        with safe_checkpoint_loading():
            load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
        name = osp.splitext(osp.basename(checkpoint))[0]
        plot_file = (osp.join(args.plot_dir, f'selection_scatter_{name}.png')
                     if args.plot_dir else None)
        results[name] = analyse_checkpoint(model, selector, frames,
                                           args.thresholds, plot_file)
        print(f'{name}: pseudo-label accuracy '
              f'{results[name]["pseudo_label_accuracy"]:.4f}, AUROC CSL weight '
              f'{results[name]["auroc_csl_weight"]:.4f}, max confidence '
              f'{results[name]["auroc_max_confidence"]:.4f}', flush=True)
    with open(args.out, 'w') as f:
        json.dump(dict(images=args.images, thresholds=args.thresholds,
                       checkpoints=results), f, indent=1)


if __name__ == '__main__':
    main()
