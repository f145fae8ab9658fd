"""Logging and plotting of the pseudo-label selection during training."""
import json
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from torch import Tensor

from ...models.selectors import SelectionRecord

# The counts of every history entry, summed over ranks: valid, reliable and
# thresholded pixels, images with valid pixels, annotated valid pixels.
COUNTS = ('valid_pixels', 'selected_pixels', 'thresholded_pixels', 'images',
          'annotated_pixels')


@HOOKS.register_module()
class CSLSelectorHook(Hook):
    """Log how the selector splits the pseudo-labels, and plot the split.

    Every ``interval`` iterations it reads the segmentor's
    :attr:`last_selection` (the trained unlabeled half of the last batch)
    on every rank, sums the counts behind each statistic over all ranks
    (one all-reduce) and logs, as ``train/csl/<name>`` scalars of the
    message hub (shown by the logger beside the losses):

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

    A statistic over an empty set is left out. The history, one entry per
    logged iteration with the statistics and the counts over all ranks
    (``valid_pixels``, ``selected_pixels``, ``thresholded_pixels``,
    ``images`` with valid pixels, ``annotated_pixels``), is written to
    ``<log_dir>/csl_selection.json`` after training (by rank 0). It is kept
    in every checkpoint, so a resumed run's file continues the history of
    the run it resumes (up to the resumed iteration). With
    ``plot_interval``, every ``plot_interval`` iterations a scatter plot of
    (max confidence, scaled residual variance) of the first image's valid
    pixels (of rank 0's batch), with the boundary lines z_c = 0 and z_s = 0
    through the reliable centre, goes to
    ``runner.visualizer.add_image('csl_selection', ...)``.

    Args:
        interval (int): Log every ``interval`` iterations.
        threshold (float): Confidence threshold compared with the selector.
        plot_interval (int, optional): Plot every ``plot_interval``
            iterations; None disables plotting.
        max_plot_points (int): Pixels drawn at most per plot.
    """

    # Key of the history in checkpoints.
    checkpoint_key = 'csl_selector_hook'

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
        self._loaded_history: List[dict] = []

    def before_train(self, runner) -> None:
        model = self._model(runner)
        if not hasattr(model, 'last_selection'):
            raise RuntimeError(
                f'CSLSelectorHook needs a model that records its selection '
                f'(SemiSegmentor), got {type(model).__name__}')
        # A resumed run continues the history of its checkpoint; a run that
        # only loads weights (load_from) starts its own.
        self.history = [entry for entry in self._loaded_history
                        if entry['iter'] <= runner.iter]
        self._loaded_history = []

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        record = self._model(runner).last_selection
        step = runner.iter + 1
        if self.every_n_train_iters(runner, self.interval):
            # Every rank takes part in the reduction, with or without a record.
            sums = selection_sums(record, self.threshold)
            if get_world_size() > 1:
                all_reduce(sums, op='sum')
            stats, counts = statistics_from_sums(sums)
            if counts['valid_pixels'] > 0:
                for name, value in stats.items():
                    runner.message_hub.update_scalar(f'train/csl/{name}', value)
                self.history.append(dict(iter=step, **stats, **counts))
        if record is not None and self.plot_interval is not None and \
                self.every_n_train_iters(runner, self.plot_interval):
            image = plot_selection(record, self.max_plot_points, seed=step)
            runner.visualizer.add_image('csl_selection', image, step=step)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[self.checkpoint_key] = dict(history=self.history)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(self.checkpoint_key) or {}
        self._loaded_history = list(state.get('history', []))

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


# (statistic, numerator, denominator) in the order of the rows of
# :func:`selection_sums`; numerators and denominators name its columns.
_RATIOS = (
    ('selected_ratio', 'selected_pixels', 'valid_pixels'),
    ('mean_weight', 'weight_sum', 'valid_pixels'),
    ('threshold_ratio', 'thresholded_pixels', 'valid_pixels'),
    ('center_conf', 'center_conf_sum', 'images'),
    ('center_res_var', 'center_res_var_sum', 'images'),
    ('center_var_conf', 'center_var_conf_sum', 'images'),
    ('center_var_res_var', 'center_var_res_var_sum', 'images'),
    ('selected_acc', 'correct_selected', 'annotated_selected'),
    ('valid_acc', 'correct_annotated', 'annotated_pixels'),
    ('threshold_acc', 'correct_thresholded', 'annotated_thresholded'),
)
_SUMS = tuple(dict.fromkeys(
    name for _, numerator, denominator in _RATIOS
    for name in (numerator, denominator)))


def selection_sums(record: Optional[SelectionRecord],
                   threshold: float) -> Tensor:
    """The sums and counts behind the statistics of one record, a float64
    tensor on the record's device in the order of ``_SUMS``: what ranks add
    up before :func:`statistics_from_sums` divides. No record gives zeros."""
    if record is None:
        return torch.zeros(len(_SUMS), dtype=torch.float64)
    result, valid = record.result, record.valid
    reliable = result.reliable & valid
    thresholded = (result.max_conf >= threshold) & valid
    has_valid = valid.flatten(1).any(dim=1)
    boundary = result.boundary()
    zero = valid.new_zeros((), dtype=torch.float64)

    def total(values: Tensor, mask: Tensor) -> Tensor:
        return torch.where(mask, values.double(), zero).sum()

    sums = {
        'selected_pixels': reliable.sum(),
        'valid_pixels': valid.sum(),
        'weight_sum': total(result.weight, valid),
        'thresholded_pixels': thresholded.sum(),
        'center_conf_sum': total(boundary[:, 0], has_valid),
        'images': has_valid.sum(),
        'center_res_var_sum': total(boundary[:, 1], has_valid),
        'center_var_conf_sum': total(result.center_var[:, 0], has_valid),
        'center_var_res_var_sum': total(result.center_var[:, 1], has_valid),
    }
    if record.gt_sem_seg is not None:
        annotated = valid & (record.gt_sem_seg != record.ignore_index)
        correct = (result.pseudo_label == record.gt_sem_seg) & annotated
        sums.update(
            correct_selected=(correct & reliable).sum(),
            annotated_selected=(annotated & reliable).sum(),
            correct_annotated=correct.sum(),
            annotated_pixels=annotated.sum(),
            correct_thresholded=(correct & thresholded).sum(),
            annotated_thresholded=(annotated & thresholded).sum())
    return torch.stack([sums[name].double() if name in sums else zero
                        for name in _SUMS])


def statistics_from_sums(sums: Tensor) -> Tuple[Dict[str, float], Dict[str, int]]:
    """The statistics (ratios over non-empty sets) and the counts
    (:data:`COUNTS`) of sums of :func:`selection_sums`."""
    values = dict(zip(_SUMS, sums.tolist()))
    stats = {name: values[numerator] / values[denominator]
             for name, numerator, denominator in _RATIOS
             if values[denominator] > 0}
    counts = {name: int(round(values[name])) for name in COUNTS}
    return stats, counts


def selection_statistics(record: SelectionRecord,
                         threshold: float) -> Dict[str, float]:
    """Selection statistics of one record (see :class:`CSLSelectorHook`)."""
    return statistics_from_sums(selection_sums(record, threshold))[0]


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
