"""Divergence reported as divergence.

When a training run's loss terms, its prediction or its weights stop being
finite, it has diverged: continuing only spends compute on NaNs. The parts of
this package that notice it (``DivergenceCheckHook`` for loss terms and
weights, ``SemiSegmentor`` for the prediction that reaches the selector) raise
:class:`TrainingDivergedError` with :func:`divergence_message`: the iteration,
what stopped being finite, the last finite values of the loss terms, the
learning rate, the last checkpoint saved before (kept), the checkpoint to
train on from and the command that does it, and what to try.

That command loads the checkpoint's weights (``load_from``) without
``--resume``: resuming restores the saved optimizer and parameter schedulers,
whose learning rates override the config's, so a resumed run trains with the
learning rate that diverged whatever ``optim_wrapper.optimizer.lr`` says.
The last checkpoint of finite weights is often saved while the loss was
already exploding; the one advised is the latest whose weights gave a loss,
in the iteration after it, within ``LOSS_GROWTH`` times the median loss
logged until then.
"""
import math
import os
import os.path as osp
import re
import shlex
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from mmengine.logging import MessageHub

# Runtime information ``DivergenceCheckHook`` leaves in the message hub for
# the messages of other components: ``dict(work_dir=str, amp=bool,
# config=str, lr=float)`` (the config file the runner dumped to the work
# directory, the learning rate ``optim_wrapper.optimizer.lr`` of the config).
RUN_INFO_KEY = 'divergence_check'
# A checkpoint whose weights gave, in the next iteration, a loss more than
# this many times the median loss logged until then is taken for one saved
# while the run was diverging.
LOSS_GROWTH = 10
# The learning rate the advised command trains with, as a share of the
# config's.
LR_FACTOR = 0.1
_ITER_CHECKPOINT = re.compile(r'iter_(\d+)\.pth')


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss term, prediction or weight."""


def last_finite_losses(message_hub: MessageHub) -> Dict[str, float]:
    """The last finite value of every logged training loss term
    (``train/<name>`` scalars with ``loss`` in the name), by name."""
    losses = {}
    for key, buffer in message_hub.log_scalars.items():
        if not key.startswith('train/') or 'loss' not in key:
            continue
        values = [float(value) for value in buffer.data[0]]
        finite = [value for value in values if math.isfinite(value)]
        if finite:
            losses[key[len('train/'):]] = finite[-1]
    return losses


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint mmengine's ``CheckpointHook`` saved last in
    ``work_dir`` (its ``last_checkpoint`` file), if it still exists."""
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        path = f.read().strip()
    return path if path and osp.isfile(path) else None


def iteration_checkpoints(directory: str) -> List[Tuple[int, str]]:
    """The ``iter_<n>.pth`` checkpoints in ``directory``, as
    ``(n, path)`` in the order of ``n``."""
    if not osp.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _ITER_CHECKPOINT.fullmatch(name)
        if match:
            found.append((int(match.group(1)), osp.join(directory, name)))
    return sorted(found)


def logged_losses(message_hub: MessageHub,
                  logged_through: int) -> Dict[int, float]:
    """The total loss (``train/loss``) of every iteration the message hub
    holds, by 1-based iteration; its last value is that of
    ``logged_through``."""
    if 'train/loss' not in message_hub.log_scalars:
        return {}
    values = message_hub.log_scalars['train/loss'].data[0]
    first = logged_through - len(values) + 1
    return {first + index: float(value) for index, value in enumerate(values)}


class RecoveryCheckpoint(NamedTuple):
    """A checkpoint to train on from, and the loss that vouches for it."""
    path: str
    next_iteration: int
    loss: float  # of next_iteration, computed with the checkpoint's weights
    median: float  # of the losses logged until the checkpoint's iteration


def recovery_checkpoint(checkpoints: List[Tuple[int, str]],
                        losses: Dict[int, float]) -> Optional[RecoveryCheckpoint]:
    """The latest of ``checkpoints`` (``(iteration, path)``) whose weights
    gave, in the next iteration, a finite loss within ``LOSS_GROWTH`` times
    the median loss logged until the checkpoint's iteration, or None."""
    steps = np.array(sorted(losses), dtype=np.int64)
    values = np.array([losses[step] for step in steps], dtype=np.float64)
    for iteration, path in reversed(checkpoints):
        loss = losses.get(iteration + 1)
        if loss is None or not math.isfinite(loss):
            continue
        before = values[steps <= iteration]
        median = float(np.median(before)) if before.size else loss
        if loss <= LOSS_GROWTH * median:
            return RecoveryCheckpoint(path, iteration + 1, loss, median)
    return None


def recovery_command(run_info: dict, checkpoint: Optional[str]) -> Optional[str]:
    """``tools/train.py`` on the run's config at ``LR_FACTOR`` times its
    learning rate, in a new work directory, loading ``checkpoint``'s weights
    if given; None without the config's learning rate."""
    lr = run_info.get('lr')
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        return None
    new_lr = _format(lr * LR_FACTOR)
    config = run_info.get('config')
    config = shlex.quote(config) if config and osp.isfile(config) else 'CONFIG'
    work_dir = shlex.quote(f"{run_info['work_dir'].rstrip('/')}_lr{new_lr}")
    options = [f'optim_wrapper.optimizer.lr={new_lr}']
    if checkpoint is not None:
        options.insert(0, f'load_from={shlex.quote(checkpoint)}')
    return (f'python tools/train.py {config} --work-dir {work_dir} '
            f'--cfg-options {" ".join(options)}')


def _format(value: float) -> str:
    return f'{value:.6g}'


def divergence_message(problem: str,
                       iteration: Optional[int] = None,
                       logged_through: Optional[int] = None,
                       message_hub: Optional[MessageHub] = None) -> str:
    """What a diverged run reports.

    Args:
        problem (str): What is not finite, e.g. ``'the loss terms loss=nan
            are not finite'``.
        iteration (int, optional): The 1-based iteration that diverged;
            defaults to the one the message hub is in (its ``iter`` + 1).
        logged_through (int, optional): The last iteration whose loss terms
            the message hub holds; defaults to ``iteration - 1``.
        message_hub (MessageHub, optional): The run's message hub; defaults
            to the current instance. It gives the loss history, the learning
            rate (``train/lr``) and, with ``DivergenceCheckHook``, the work
            directory and whether the run uses mixed precision.
    """
    if message_hub is None:
        message_hub = MessageHub.get_current_instance()
    if iteration is None:
        iteration = message_hub.get_info('iter', -1) + 1
    if logged_through is None:
        logged_through = iteration - 1
    lines = [f'Training diverged at iteration {iteration}: {problem}.']

    losses = last_finite_losses(message_hub)
    if losses and logged_through >= 1:
        terms = ', '.join(f'{name}={_format(value)}'
                          for name, value in losses.items())
        lines.append(f'Last finite values of the loss terms (logged through '
                     f'iteration {logged_through}): {terms}.')
    else:
        lines.append('No earlier iteration logged finite loss terms: check the '
                     'data (labels within num_classes or ignore_index), the '
                     'initialisation and the learning rate.')
    if 'train/lr' in message_hub.log_scalars:
        lr = message_hub.get_scalar('train/lr').current()
        lines.append(f'Learning rate at iteration {iteration}: {_format(lr)} '
                     '(first parameter group).')

    run_info = message_hub.get_info(RUN_INFO_KEY) or {}
    if 'work_dir' in run_info:
        lines.extend(_recovery_lines(run_info, message_hub, logged_through))

    advice = ['a lower learning rate (optim_wrapper.optimizer.lr, e.g. 10x '
              'lower) or a warm-up (a LinearLR param_scheduler before the '
              'main one)',
              'gradient clipping (optim_wrapper.clip_grad=dict(max_norm=10))']
    overflow = ('float16 overflows above 65504: train in bfloat16 '
                "(optim_wrapper.dtype='bfloat16') or in float32 (OptimWrapper, "
                'without --amp)')
    if run_info.get('amp'):
        advice.append(f'this run uses mixed precision (AmpOptimWrapper), and '
                      f'{overflow}')
    else:
        advice.append(f'with mixed precision (--amp, AmpOptimWrapper), {overflow}')
    lines.append('What to try: ' + '; '.join(advice) + '.')
    return '\n'.join(lines)


def _recovery_lines(run_info: dict, message_hub: MessageHub,
                    logged_through: int) -> List[str]:
    """The last checkpoint, the one to train on from and the command."""
    last = last_checkpoint(run_info['work_dir'])
    if last is None:
        lines = ['No checkpoint was saved before the divergence.']
        start = None
    else:
        lines = [f'Last checkpoint saved, of finite weights, kept: {last}.']
        found = recovery_checkpoint(
            iteration_checkpoints(osp.dirname(last)),
            logged_losses(message_hub, logged_through))
        if found is None:
            start = None
            lines.append(
                'No kept checkpoint gave, in the iteration after it, a loss '
                f'within {LOSS_GROWTH}x the median loss logged until then: their '
                'weights were likely saved while the run diverged; train again '
                'from the start.')
        else:
            start = found.path
            lines.append(
                f'Checkpoint to train on from: {start} (its weights gave '
                f'loss={_format(found.loss)} at iteration {found.next_iteration}, '
                f'within {LOSS_GROWTH}x the median loss {_format(found.median)} '
                'logged until then; later checkpoints gave more, or diverged).')
    command = recovery_command(run_info, start)
    if command is not None:
        loaded = ("the checkpoint's weights are loaded; " if start is not None
                  else '')
        lines.append(
            f'To train at {LR_FACTOR:g}x the learning rate ({loaded}the '
            'iteration counter, the optimizer state and the learning-rate '
            'schedule start again from iteration 1, at the new rate, for '
            'train_cfg.max_iters iterations; --resume would restore the saved '
            'optimizer and schedule, and with them the learning rate that '
            'diverged; tools/dist_train.sh and tools/slurm_train.sh take the '
            'same options):')
        lines.append(f'    {command}')
    return lines

