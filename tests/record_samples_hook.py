"""Hooks for tests of distributed runs: which images did each rank train on,
and what did each rank's selector select?

Configs load it with ``custom_imports=dict(imports=['tests.record_samples_hook'])``
(the repository root must be on ``PYTHONPATH``, as the launch scripts put it).
"""
import os.path as osp
from typing import Dict, List, Optional

import mmengine
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RecordSamplesHook(Hook):
    """Write the image paths of every training batch of this rank to
    ``<work_dir>/samples_rank<rank>.json`` at the end of training: a list
    with one list of paths per iteration.

    Reads ``img_path`` from the batch's data samples, a list (plain batches)
    or a dict of lists with ``None`` entries (multi-branch batches); an image
    seen in several branches is listed once.
    """

    def __init__(self) -> None:
        self.iterations: List[List[str]] = []

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        samples = data_batch['data_samples']
        if isinstance(samples, dict):
            samples = [sample for branch in samples.values() for sample in branch]
        paths = [sample.img_path for sample in samples if sample is not None]
        self.iterations.append(list(dict.fromkeys(paths)))

    def after_train(self, runner) -> None:
        mmengine.dump(self.iterations,
                      osp.join(runner.work_dir, f'samples_rank{runner.rank}.json'))


@HOOKS.register_module()
class RecordSelectionCountsHook(Hook):
    """Write, per training iteration of this rank, the pixel counts of the
    segmentor's ``last_selection`` to
    ``<work_dir>/selection_counts_rank<rank>.json``: a dict from iteration
    (1-based) to ``valid_pixels``, ``selected_pixels`` (reliable and valid),
    ``thresholded_pixels`` (max confidence >= ``threshold``, valid) and
    ``images`` (with a valid pixel)."""

    def __init__(self, threshold: float = 0.95) -> None:
        self.threshold = threshold
        self.counts: Dict[int, Dict[str, int]] = {}

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        model = runner.model
        record = (model.module if is_model_wrapper(model) else model).last_selection
        valid = record.valid
        self.counts[runner.iter + 1] = {
            'valid_pixels': int(valid.sum()),
            'selected_pixels': int((record.result.reliable & valid).sum()),
            'thresholded_pixels': int(
                ((record.result.max_conf >= self.threshold) & valid).sum()),
            'images': int(valid.flatten(1).any(dim=1).sum()),
        }

    def after_train(self, runner) -> None:
        mmengine.dump(self.counts, osp.join(
            runner.work_dir, f'selection_counts_rank{runner.rank}.json'))
