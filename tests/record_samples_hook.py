"""A hook for tests of distributed sampling: which images did each rank train on?

Configs load it with ``custom_imports=dict(imports=['tests.record_samples_hook'])``
(the repository root must be on ``PYTHONPATH``, as the launch scripts put it).
"""
import os.path as osp
from typing import List, Optional

import mmengine
from mmengine.hooks import Hook
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
