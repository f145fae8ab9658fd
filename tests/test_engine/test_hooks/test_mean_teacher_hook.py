from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.engine.hooks import MeanTeacherHook
from tests.semi_utils import semi_runner, semi_segmentor_cfg, tiny_segmentor_cfg


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


class StateProbe(Hook):
    """Copies the teacher's and the student's state at each hook stage."""

    def __init__(self, priority: str):
        self.priority = priority
        self.states = []

    def _keep(self, runner):
        model = runner.model
        self.states.append(
            tuple({key: value.clone()
                   for key, value in module.state_dict().items()}
                  for module in (model.teacher, model.segmentor)))

    def before_train(self, runner):
        self._keep(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._keep(runner)


def test_teacher_follows_the_ema_rule_in_a_runner(tmp_path):
    momentum = 0.5
    before, after = StateProbe('ABOVE_NORMAL'), StateProbe('LOWEST')
    runner = semi_runner(
        tmp_path,
        semi_segmentor_cfg(teacher='ema'),
        [{'type': 'MeanTeacherHook', 'momentum': momentum}, before, after],
        max_iters=2)
    with torch.no_grad():
        for param in runner.model.teacher.parameters():
            param.add_(1.0)
    runner.train()

    assert len(before.states) == len(after.states) == 3
    teacher, student = after.states[0]
    for key, value in student.items():
        assert torch.equal(teacher[key], value), key
    for (old_teacher, _), (new_teacher, student) in zip(before.states[1:],
                                                        after.states[1:]):
        changed = False
        for key, value in new_teacher.items():
            if value.is_floating_point():
                expected = momentum * old_teacher[key] + (
                    1 - momentum) * student[key]
                assert torch.allclose(value, expected, atol=1e-6), key
                changed |= not torch.equal(value, old_teacher[key])
            else:
                assert torch.equal(value, student[key]), key
        assert changed


def _fake_runner(model, iteration):
    return SimpleNamespace(model=model, iter=iteration)


def test_resumed_run_keeps_its_teacher_and_interval_is_respected():
    model = MODELS.build(semi_segmentor_cfg(teacher='ema'))
    with torch.no_grad():
        for param in model.teacher.parameters():
            param.add_(1.0)
    kept = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    hook = MeanTeacherHook(momentum=0.9, interval=2)

    hook.before_train(_fake_runner(model, 10))
    hook.after_train_iter(_fake_runner(model, 10), batch_idx=0)
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, kept[key]), key
    hook.after_train_iter(_fake_runner(model, 11), batch_idx=1)
    weight = 'backbone.stem.0.weight'
    expected = 0.9 * kept[weight] + 0.1 * model.segmentor.state_dict()[weight]
    assert torch.allclose(model.teacher.state_dict()[weight], expected)


def test_model_without_teacher_is_refused():
    hook = MeanTeacherHook()
    for model in (MODELS.build(semi_segmentor_cfg(teacher='self')),
                  MODELS.build(tiny_segmentor_cfg())):
        with pytest.raises(RuntimeError, match='teacher'):
            hook.before_train(_fake_runner(model, 0))


@pytest.mark.parametrize('kwargs', [{'momentum': 1.0}, {'interval': 0}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        MeanTeacherHook(**kwargs)
