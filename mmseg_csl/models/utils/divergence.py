"""Divergence reported as divergence.

When a training run's loss terms, its prediction or its weights stop being
finite, it has diverged: continuing only spends compute on NaNs. The parts of
this package that notice it (``DivergenceCheckHook`` for loss terms and
weights, ``SemiSegmentor`` for the prediction that reaches the selector) raise
:class:`TrainingDivergedError` with :func:`divergence_message`: the iteration,
what stopped being finite, the last finite values of the loss terms, the
learning rate, the last checkpoint saved before (kept) and what to try.
"""
import math
import os.path as osp
from typing import Dict, Optional

from mmengine.logging import MessageHub

# Runtime information ``DivergenceCheckHook`` leaves in the message hub for
# the messages of other components: ``dict(work_dir=str, amp=bool)``.
RUN_INFO_KEY = 'divergence_check'


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
        checkpoint = last_checkpoint(run_info['work_dir'])
        if checkpoint is None:
            lines.append('No checkpoint was saved before the divergence.')
        else:
            lines.append(f'Last checkpoint saved, of finite weights, kept: '
                         f'{checkpoint} (to continue from it, or from an earlier '
                         'one, once the config is changed: --resume '
                         '--cfg-options load_from=<checkpoint>).')

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
