import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.models.utils import (
    STEP_PHASES,
    StepPhaseObserver,
    observe_step_phases,
    step_phase,
)
from mmseg_csl.models.utils.step_phases import PHASE_RANGE_PREFIX
from tests.semi_utils import make_semi_batch, semi_segmentor_cfg, training_step


class Journal(StepPhaseObserver):

    def __init__(self):
        self.calls = []

    def enter(self, phase):
        self.calls.append(('enter', phase))

    def exit(self, phase):
        self.calls.append(('exit', phase))


def test_observers_see_each_phase_start_and_end_also_when_it_raises():
    journal = Journal()
    with observe_step_phases(journal):
        with step_phase('a'):
            pass
        with pytest.raises(ValueError):
            with step_phase('b'):
                raise ValueError
    with step_phase('after'):
        pass
    assert journal.calls == [('enter', 'a'), ('exit', 'a'), ('enter', 'b'),
                             ('exit', 'b')]


def test_a_phase_is_a_profiler_range_and_a_decorator():

    @step_phase('doubling')
    def double(x):
        return x * 2

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) \
            as profiler:
        assert double(torch.ones(2)).tolist() == [2.0, 2.0]
    names = {event.key for event in profiler.key_averages()}
    assert PHASE_RANGE_PREFIX + 'doubling' in names
    assert double.__name__ == 'double'


def test_semi_segmentor_marks_the_phases_of_its_step_in_order():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(semi_segmentor_cfg()).train()
    with observe_step_phases(Journal()) as journal:
        training_step(model, make_semi_batch())
    assert [phase for event, phase in journal.calls if event == 'enter'] == list(
        STEP_PHASES)
    assert len(journal.calls) == 2 * len(STEP_PHASES)
