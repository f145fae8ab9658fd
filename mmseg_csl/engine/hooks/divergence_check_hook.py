"""Stop a diverging run at its first non-finite loss, with a message that
says so."""
import math
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.config import Config
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper
from mmseg.registry import HOOKS
from torch import Tensor

from ...models.utils.divergence import (
    RUN_INFO_KEY,
    TrainingDivergedError,
    divergence_message,
)


@HOOKS.register_module()
class DivergenceCheckHook(Hook):
    """Stop training at the first non-finite loss term, and never save a
    checkpoint of non-finite weights.

    - After every training iteration, the loss terms the model returned
      (``loss`` and every ``*loss*`` entry) are checked, on all ranks
      together (one all-reduce of a flag). The first iteration with a NaN or
      infinite term raises :class:`TrainingDivergedError`, before the
      iteration is logged or checkpointed.
    - Before a checkpoint is written, its state dict (weights and buffers)
      is checked; non-finite values raise the same error and the file is not
      written. So the last checkpoint of the work directory is one of finite
      weights, and it is kept (nothing saves or removes checkpoints after
      the error).

    The message (:func:`~mmseg_csl.models.utils.divergence_message`) names
    the iteration, the non-finite terms, the last finite value of every
    loss term, the learning rate, the last checkpoint, the one to train on
    from with the command that does it at a lower learning rate, and what to
    try (learning rate, warm-up, gradient clipping, mixed precision). The
    hook also leaves the work directory, whether the run uses mixed
    precision, the config file dumped to the work directory and the
    config's learning rate in the message hub, so that ``SemiSegmentor``,
    which stops at a non-finite prediction before any loss exists, reports
    the same.

    This package's configs list it in ``default_hooks``.
    """

    # Before RuntimeInfoHook (VERY_HIGH) logs the iteration's losses, and
    # before CheckpointHook saves.
    priority = 'HIGHEST'

    def before_train(self, runner) -> None:
        runner.message_hub.update_info(
            RUN_INFO_KEY,
            dict(work_dir=runner.work_dir,
                 amp=isinstance(runner.optim_wrapper, AmpOptimWrapper),
                 config=dumped_config(runner),
                 lr=configured_lr(runner.cfg)),
            resumed=False)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        losses = {name: value for name, value in (outputs or {}).items()
                  if 'loss' in name and isinstance(value, Tensor)}
        if not losses:
            return
        finite = torch.stack(
            [value.detach().float().isfinite().all() for value in losses.values()])
        diverged = (~finite.all()).to(torch.float32).reshape(1)
        if get_world_size() > 1:
            all_reduce(diverged, op='sum')
        if not diverged.item():
            return
        values = {name: float(value.detach().float().mean())
                  for name, value in losses.items()}
        bad = {name: value for name, value in values.items()
               if not math.isfinite(value)}
        if bad:
            terms = ', '.join(f'{name}={value}' for name, value in bad.items())
            problem = f'the loss terms {terms} are not finite'
        else:
            problem = 'a loss term is not finite on another rank'
        raise TrainingDivergedError(divergence_message(
            problem, iteration=runner.iter + 1, message_hub=runner.message_hub))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        name = first_non_finite(checkpoint.get('state_dict', {}))
        if name is None:
            return
        # The checkpoint is saved after the iteration's losses were logged.
        raise TrainingDivergedError(divergence_message(
            f'the weights after iteration {runner.iter + 1} are not finite '
            f'(first: {name}), so they are not saved',
            iteration=runner.iter + 1,
            logged_through=runner.iter + 1,
            message_hub=runner.message_hub))


def dumped_config(runner) -> str:
    """The copy of its config that mmengine's runner wrote to its work
    directory (``Runner.dump_config``): the config as trained, with the
    command line's options and the ``semi`` key expanded."""
    filename = runner.cfg.filename
    name = osp.basename(filename) if filename else f'{runner.timestamp}.py'
    return osp.join(runner.work_dir, name)


def configured_lr(cfg: Config) -> Optional[float]:
    """``optim_wrapper.optimizer.lr`` of ``cfg``, if it has one optimizer
    with a numeric learning rate."""
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer')
    lr = optimizer.get('lr') if isinstance(optimizer, dict) else None
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        return None
    return float(lr)


def first_non_finite(state_dict: Dict[str, Tensor]) -> Optional[str]:
    """The name of the first floating-point entry of ``state_dict`` with a
    NaN or infinite value, or None. (The runner hands its hooks a state dict
    already copied to the CPU.)"""
    for name, value in state_dict.items():
        if isinstance(value, Tensor) and value.is_floating_point() and \
                not bool(value.isfinite().all()):
            return name
    return None
