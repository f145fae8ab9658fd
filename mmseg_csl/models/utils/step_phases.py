"""Named phases of a training step, for whoever measures them.

``SemiSegmentor`` runs each phase of its step inside :func:`step_phase`: a
``torch.profiler`` range named ``semi.<phase>`` (so a profile groups the
operators and GPU kernels by phase) and a call to every
:class:`StepPhaseObserver` registered by :func:`observe_step_phases` (so a
benchmark can take times or count operators per phase without a profiler).
Neither touches a tensor: without a profiler and an observer, a phase costs
the two calls that open and close an idle profiler range.
"""
from contextlib import contextmanager
from typing import Iterator, List

import torch

PHASE_RANGE_PREFIX = 'semi.'
# The phases of SemiSegmentor's step, in the order they run.
STEP_PHASES = ('labeled_and_weak_forward', 'pseudo_labels', 'strong_views',
               'unsupervised_losses')


class StepPhaseObserver:
    """Told when each phase of a step starts and ends."""

    def enter(self, phase: str) -> None:
        """``phase`` starts."""

    def exit(self, phase: str) -> None:
        """``phase`` has ended (also when it raised)."""


_observers: List[StepPhaseObserver] = []


@contextmanager
def step_phase(phase: str) -> Iterator[None]:
    """Run the body as the phase ``phase`` of a step: inside the profiler
    range ``semi.<phase>``, between the observers' ``enter`` and ``exit``
    (inside the range: the calls that open and close it are no part of what
    an observer measures). Also a decorator."""
    with torch.profiler.record_function(PHASE_RANGE_PREFIX + phase):
        observers = tuple(_observers)
        for observer in observers:
            observer.enter(phase)
        try:
            yield
        finally:
            for observer in reversed(observers):
                observer.exit(phase)


@contextmanager
def observe_step_phases(observer: StepPhaseObserver) -> Iterator[StepPhaseObserver]:
    """Register ``observer`` for the steps run inside the ``with`` block."""
    _observers.append(observer)
    try:
        yield observer
    finally:
        _observers.remove(observer)
