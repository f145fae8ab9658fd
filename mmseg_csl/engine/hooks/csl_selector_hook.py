"""Logging and plotting of the pseudo-label selection during training."""
import json
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from torch import Tensor

from ...models.selectors import SelectionRecord


@HOOKS.register_module()
class CSLSelectorHook(Hook):
    """Log how the selector splits the pseudo-labels, and plot the split.

    Every ``interval`` iterations it reads the segmentor's
    :attr:`last_selection` (the trained unlabeled half of the last batch)
    and logs, as ``train/csl/<name>`` scalars of the message hub (shown by
    the logger beside the losses):

    - ``selected_ratio``: reliable / valid pixels; ``mean_weight`` over
      valid pixels; ``threshold_ratio``: pixels with confidence >=
      ``threshold`` / valid pixels;
    - ``center_conf``, ``center_res_var``: the reliable cluster's boundary
      point in (max confidence, scaled residual variance)
      (:meth:`SelectionResult.boundary`), ``center_var_conf``,
      ``center_var_res_var``: its variance in the selector's point space;
      means over images with valid pixels;
    - with ground truth on the weak views: pseudo-label accuracy on the
      reliable pixels (``selected_acc``), on all valid pixels
      (``valid_acc``) and on the thresholded pixels (``threshold_acc``).

    A statistic over an empty set is left out. After training the history
    is written to ``<log_dir>/csl_selection.json``. With ``plot_interval``,
    every ``plot_interval`` iterations a scatter plot of (max confidence,
    scaled residual variance) of the first image's valid pixels, with the
    boundary lines z_c = 0 and z_s = 0 through the reliable centre, goes to
    ``runner.visualizer.add_image('csl_selection', ...)``.

    Statistics describe the batch of the rank that logs them.

    Args:
        interval (int): Log every ``interval`` iterations.
        threshold (float): Confidence threshold compared with the selector.
        plot_interval (int, optional): Plot every ``plot_interval``
            iterations; None disables plotting.
        max_plot_points (int): Pixels drawn at most per plot.
    """

    def __init__(self,
                 interval: int = 50,
                 threshold: float = 0.95,
                 plot_interval: Optional[int] = None,
                 max_plot_points: int = 20000) -> None:
        if interval < 1:
            raise ValueError(f'interval must be positive, got {interval}')
        if not 0 <= threshold <= 1:
            raise ValueError(f'threshold must lie in [0, 1], got {threshold}')
        if plot_interval is not None and plot_interval < 1:
            raise ValueError(
                f'plot_interval must be positive or None, got {plot_interval}')
        if max_plot_points < 1:
            raise ValueError(
                f'max_plot_points must be positive, got {max_plot_points}')
        self.interval = interval
        self.threshold = threshold
        self.plot_interval = plot_interval
        self.max_plot_points = max_plot_points
        self.history: List[dict] = []

    def before_train(self, runner) -> None:
        model = self._model(runner)
        if not hasattr(model, 'last_selection'):
            raise RuntimeError(
                f'CSLSelectorHook needs a model that records its selection '
                f'(SemiSegmentor), got {type(model).__name__}')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        record = self._model(runner).last_selection
        if record is None:
            return
        step = runner.iter + 1
        if self.every_n_train_iters(runner, self.interval):
            stats = selection_statistics(record, self.threshold)
            for name, value in stats.items():
                runner.message_hub.update_scalar(f'train/csl/{name}', value)
            self.history.append(dict(iter=step, **stats))
        if self.plot_interval is not None and self.every_n_train_iters(
                runner, self.plot_interval):
            image = plot_selection(record, self.max_plot_points, seed=step)
            runner.visualizer.add_image('csl_selection', image, step=step)

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        summary = {
            'interval': self.interval,
            'threshold': self.threshold,
            'history': self.history,
        }
        with open(osp.join(runner.log_dir, 'csl_selection.json'), 'w') as f:
            json.dump(summary, f, indent=1)

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model


def _masked_mean(values: Tensor, mask: Tensor) -> Optional[float]:
    """Mean of ``values`` where ``mask`` holds; None for an empty mask."""
    if not mask.any():
        return None
    return values[mask].double().mean().item()


def selection_statistics(record: SelectionRecord,
                         threshold: float) -> Dict[str, float]:
    """Selection statistics of one record (see :class:`CSLSelectorHook`)."""
    result, valid = record.result, record.valid
    reliable = result.reliable & valid
    thresholded = (result.max_conf >= threshold) & valid
    has_valid = valid.flatten(1).any(dim=1)
    boundary = result.boundary()
    stats = {
        'selected_ratio': _masked_mean(reliable, valid),
        'mean_weight': _masked_mean(result.weight, valid),
        'threshold_ratio': _masked_mean(thresholded, valid),
        'center_conf': _masked_mean(boundary[:, 0], has_valid),
        'center_res_var': _masked_mean(boundary[:, 1], has_valid),
        'center_var_conf': _masked_mean(result.center_var[:, 0], has_valid),
        'center_var_res_var': _masked_mean(result.center_var[:, 1], has_valid),
    }
    if record.gt_sem_seg is not None:
        annotated = valid & (record.gt_sem_seg != record.ignore_index)
        correct = result.pseudo_label == record.gt_sem_seg
        stats.update(
            selected_acc=_masked_mean(correct, annotated & reliable),
            valid_acc=_masked_mean(correct, annotated),
            threshold_acc=_masked_mean(correct, annotated & thresholded))
    return {name: value for name, value in stats.items() if value is not None}


def plot_selection(record: SelectionRecord,
                   max_points: int,
                   seed: int = 0) -> np.ndarray:
    """Scatter plot of the first image's pixels in (max confidence, scaled
    residual variance), as in the CSL paper's Figure 1.

    Pixels are coloured correct / incorrect against the ground truth when
    the record has one (annotated pixels only), reliable / down-weighted
    otherwise; at most ``max_points`` of them, drawn with a generator seeded
    by ``seed`` (the global RNG is left alone). The dashed lines z_c = 0
    and z_s = 0 run from the reliable cluster's centre and bound the
    down-weighted region (confidence below and variance above the centre).

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB image.
    """
    result = record.result
    pixels = record.valid[0]
    if record.gt_sem_seg is not None:
        pixels = pixels & (record.gt_sem_seg[0] != record.ignore_index)
        groups = {
            'correct': result.pseudo_label[0] == record.gt_sem_seg[0],
            'incorrect': result.pseudo_label[0] != record.gt_sem_seg[0]
        }
    else:
        groups = {
            'reliable': result.reliable[0],
            'down-weighted': ~result.reliable[0]
        }
    index = pixels.flatten().nonzero().squeeze(1).cpu()
    if len(index) > max_points:
        generator = torch.Generator().manual_seed(seed)
        index = index[torch.randperm(len(index),
                                     generator=generator)[:max_points]]
    conf = result.max_conf[0].flatten().cpu()[index].double().numpy()
    res_var = result.res_var[0].flatten().cpu()[index].double().numpy()

    figure = Figure(figsize=(5, 4), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colors = dict(zip(groups, ('tab:green', 'tab:red')))
    for name, member in groups.items():
        chosen = member.flatten().cpu()[index].numpy()
        axes.scatter(
            conf[chosen], res_var[chosen], s=2, c=colors[name], label=name)
    center_conf, center_var = result.boundary()[0].tolist()
    left, _ = axes.get_xlim()
    bottom, top = axes.get_ylim()
    # The down-weighted region: below the boundary's confidence and above its
    # variance, or below both for the masking version's points (log c, -s).
    edge = bottom if result.log_points else top
    axes.vlines(center_conf, center_var, edge, colors='k', linestyles='--')
    axes.hlines(center_var, left, center_conf, colors='k', linestyles='--')
    axes.plot(center_conf, center_var, 'k*', markersize=10,
              label='reliable centre')
    axes.set_xlabel('max confidence')
    axes.set_ylabel('scaled residual variance')
    axes.legend(loc='upper left', fontsize='small')
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
