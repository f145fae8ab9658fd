"""Exponential moving average of the student into the teacher."""
import logging
from typing import Optional

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class MeanTeacherHook(Hook):
    """Keep ``model.teacher`` an EMA of the student ``model.segmentor``.

    ``momentum`` means what it means in MMDetection's hook of the same name:
    the student's share. After every ``interval`` training iterations each
    teacher parameter and floating-point buffer (e.g. BatchNorm's
    ``running_mean`` and ``running_var``) becomes
    ``(1 - momentum) * teacher + momentum * student``; integer buffers
    (e.g. BatchNorm's ``num_batches_tracked``) are copied from the student.
    Unlike MMDetection's default (``skip_buffer=True``) the buffers follow the
    student too, so the teacher's BatchNorm statistics match its weights.
    Before training from iteration 0 the teacher is set to a copy of the
    student; a resumed run keeps the teacher of its checkpoint.

    Use it with ``SemiSegmentor(semi_train_cfg=dict(teacher='ema', ...))``.

    Args:
        momentum (float): Weight of the student in each update, in (0, 1];
            1 makes the teacher a copy of the student. A value above 0.5
            draws a warning, since it is usually meant as the teacher's
            weight (the convention of the EMA literature). Defaults to
            0.001, MMDetection's.
        interval (int): Update every ``interval`` iterations. Defaults to 1.
    """

    def __init__(self, momentum: float = 0.001, interval: int = 1) -> None:
        if not 0 < momentum <= 1:
            raise ValueError(f'momentum must lie in (0, 1], got {momentum}')
        if interval < 1:
            raise ValueError(f'interval must be a positive integer, '
                             f'got {interval}')
        if momentum > 0.5:
            print_log(
                f'MeanTeacherHook: momentum={momentum} is the student\'s '
                'share in each update (teacher = (1 - momentum) * teacher + '
                'momentum * student, as in MMDetection); for a teacher that '
                f'keeps {momentum} of itself pass momentum={1 - momentum:.6g}',
                logger='current',
                level=logging.WARNING)
        self.momentum = momentum
        self.interval = interval

    def before_train(self, runner) -> None:
        teacher, student = self._teacher_and_student(runner)
        if runner.iter == 0:
            ema_update(teacher, student, momentum=1)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            ema_update(*self._teacher_and_student(runner), self.momentum)

    @staticmethod
    def _teacher_and_student(runner) -> tuple:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        teacher = getattr(model, 'teacher', None)
        if teacher is None:
            raise RuntimeError(
                f'MeanTeacherHook needs a model with a teacher, but '
                f'{type(model).__name__} has none; use SemiSegmentor with '
                "semi_train_cfg=dict(teacher='ema')")
        return teacher, model.segmentor


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module,
               momentum: float) -> None:
    """``teacher = (1 - momentum) * teacher + momentum * student`` over
    parameters and floating buffers; other buffers, and all of them when
    ``momentum`` is 1, are copied."""
    teacher_state = dict(teacher.named_parameters())
    teacher_state.update(teacher.named_buffers())
    student_state = dict(student.named_parameters())
    student_state.update(student.named_buffers())
    if teacher_state.keys() != student_state.keys():
        raise RuntimeError('teacher and student have different parameters: '
                           f'{sorted(teacher_state.keys() ^ student_state.keys())}')
    for name, target in teacher_state.items():
        source = student_state[name].detach()
        if target.is_floating_point() and momentum < 1:
            target.lerp_(source.to(target.dtype), momentum)
        else:
            target.copy_(source)
