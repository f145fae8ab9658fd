import logging
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
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
    momentum = 0.25
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
                expected = (1 - momentum) * old_teacher[key] + (
                    momentum * student[key])
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
    hook = MeanTeacherHook(momentum=0.1, interval=2)

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


def test_one_update_is_mmdetections_formula():
    """One update against MMDetection's ``MeanTeacherHook.momentum_update``
    written out: ``teacher * (1 - momentum) + student * momentum`` for every
    parameter and floating buffer; integer buffers are the student's."""
    model = MODELS.build(semi_segmentor_cfg(teacher='ema'))
    with torch.no_grad():
        for tensor in (*model.teacher.parameters(), *model.teacher.buffers()):
            if tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor))
    momentum = 0.2
    old_teacher = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    student = model.segmentor.state_dict()
    assert any(not v.is_floating_point() for v in student.values())

    MeanTeacherHook(momentum=momentum).after_train_iter(
        _fake_runner(model, 0), batch_idx=0)

    for key, value in model.teacher.state_dict().items():
        if value.is_floating_point():
            expected = old_teacher[key].mul(1 - momentum).add(
                student[key], alpha=momentum)
            torch.testing.assert_close(value, expected, msg=key)
        else:
            assert torch.equal(value, student[key]), key


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def logged_warnings():
    logger = MMLogger.get_current_instance()
    records = _Records()
    logger.addHandler(records)
    yield records.messages
    logger.removeHandler(records)


def test_a_teacher_share_as_momentum_draws_a_warning(logged_warnings):
    MeanTeacherHook(momentum=0.999)
    assert len(logged_warnings) == 1
    assert "student's share" in logged_warnings[0]
    assert 'momentum=0.001' in logged_warnings[0]


@pytest.mark.parametrize('momentum', [0.001, 0.5])
def test_a_student_share_draws_no_warning(logged_warnings, momentum):
    MeanTeacherHook(momentum=momentum)
    assert logged_warnings == []


@pytest.mark.parametrize('kwargs', [{'momentum': 0}, {'momentum': -0.1},
                                    {'momentum': 1.5}, {'interval': 0}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        MeanTeacherHook(**kwargs)
