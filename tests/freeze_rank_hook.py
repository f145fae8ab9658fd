"""A hook that freezes one rank of a distributed run, for tests of what the
other ranks do then.

Configs load it with ``custom_imports=dict(imports=['tests.freeze_rank_hook'])``
(the repository root must be on ``PYTHONPATH``, as the tools' tests put it).
"""
import os
import signal
from typing import Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class FreezeRankHook(Hook):
    """Stop this process with SIGSTOP after training iteration ``iteration``
    (1-based) if it is rank ``rank``: it keeps its connections open and
    answers nothing, as a rank stuck in I/O or a deadlock does."""

    def __init__(self, rank: int = 1, iteration: int = 1) -> None:
        self.rank = rank
        self.iteration = iteration

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if runner.rank == self.rank and runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGSTOP)
