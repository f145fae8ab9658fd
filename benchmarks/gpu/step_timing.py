"""Timing a training step and its phases from hooks, for the GPU check's
training part."""
import statistics
import time
from contextlib import ExitStack
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook

from mmseg_csl.models.utils import (
    STEP_PHASES,
    StepPhaseObserver,
    observe_step_phases,
    step_phase,
)

GIB = 2**30


class StepTimes:
    """Two hooks around every training iteration: ``first`` (highest
    priority) and ``last`` (lowest), which synchronise the GPU and take the
    time, so that ``train_step`` lies between ``last.before_train_iter`` and
    ``first.after_train_iter``, and a whole iteration between two
    ``last.after_train_iter``. ``first`` also reads the allocator's peaks
    (``max_memory_allocated`` and ``_reserved``) of the iteration: mmengine's
    logger resets them every time it logs, after ``first``. After ``warmup``
    iterations the allocator's cache is emptied, so that the steady peaks
    leave out what the warm-up alone took (cuDNN's benchmarking of
    convolution algorithms, with workspaces sized to this card), and the
    allocator's running counts of cudaMalloc calls and of retries (a
    cudaMalloc that failed, the cache freed, tried again): those of the
    steady iterations after the first (which refills the emptied cache) say
    whether the steady step waits on the allocator. Iterations from ``end``
    on (the profiled ones) are left out of the timings."""

    def __init__(self, warmup: int, end: Optional[int] = None) -> None:
        self.warmup, self.end = warmup, end
        self.step_start: List[float] = []
        self.step_end: List[float] = []
        self.iter_end: List[float] = []
        self.losses: Dict[str, float] = {}
        self.memory: List[tuple] = []  # (allocated, reserved) peaks, GiB
        self.allocations: List[tuple] = []  # (cudaMalloc, retries) so far
        times = self

        class First(Hook):
            priority = 'HIGHEST'

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                times.step_end.append(times.now())
                if torch.cuda.is_available():
                    times.memory.append((torch.cuda.max_memory_allocated() / GIB,
                                         torch.cuda.max_memory_reserved() / GIB))
                    stats = torch.cuda.memory_stats()
                    times.allocations.append((stats.get('num_device_alloc', 0),
                                              stats.get('num_alloc_retries', 0)))

        class Last(Hook):
            priority = 'LOWEST'

            def before_train(self, runner):
                times.iter_end.append(times.now())

            def before_train_iter(self, runner, batch_idx, data_batch=None):
                if batch_idx == times.warmup and torch.cuda.is_available():
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                times.step_start.append(times.now())

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                times.iter_end.append(times.now())
                times.losses = {name: float(value)
                                for name, value in (outputs or {}).items()}

        self.first, self.last = First(), Last()

    @staticmethod
    def now() -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def summary(self) -> dict:
        steps = [end - start for start, end in zip(self.step_start, self.step_end)]
        iters = [b - a for a, b in zip(self.iter_end, self.iter_end[1:])]
        iters, steps = iters[:self.end], steps[:self.end]
        peaks = self.memory[:self.end]
        timed = slice(self.warmup, None)
        if len(iters) <= self.warmup:
            timed = slice(len(iters) // 2, None)
        memory = {}
        for phase, samples in (('warmup', peaks[:timed.start]),
                               ('steady', peaks[timed])):
            if samples:
                memory[f'{phase}_allocated_gib'] = max(m[0] for m in samples)
                memory[f'{phase}_reserved_gib'] = max(m[1] for m in samples)
        counts = self.allocations[:self.end]
        if len(counts) > timed.start + 1:
            first, last = counts[timed.start], counts[-1]
            memory['steady_device_allocs'] = last[0] - first[0]
            memory['steady_alloc_retries'] = last[1] - first[1]
        return {'iter_s': statistics.median(iters[timed]),
                'step_s': statistics.median(steps[timed]),
                'first_iter_s': iters[0], 'timed_iters': len(iters[timed]),
                'losses': self.losses, **memory}


def mark_update_params(optim_wrapper) -> None:
    """Run the optimiser wrapper's ``update_params`` (backward and step; an
    mmengine ``OptimWrapper`` method) as the step phase ``update_params``,
    beside the phases that ``SemiSegmentor`` marks itself."""
    optim_wrapper.update_params = step_phase('update_params')(
        optim_wrapper.update_params)


class PhaseTimes(StepPhaseObserver):
    """Where a training step's time goes, without adding a synchronisation:
    CUDA events (and host clocks) at the start and the end of each phase of
    the step (:mod:`mmseg_csl.models.utils.step_phases`: ``SemiSegmentor``'s
    and, by :func:`mark_update_params`, the optimiser's update). Between two
    events lies the time the GPU's timeline spent on that phase: its
    kernels, or its waiting for the host to launch them. Read out after each
    iteration, once :class:`StepTimes` has synchronised."""

    PHASES = (*STEP_PHASES, 'update_params')

    def __init__(self, warmup: int, end: Optional[int] = None) -> None:
        self.warmup, self.end = warmup, end
        self.started: Dict[str, tuple] = {}
        self.pending: List[tuple] = []
        self.samples: Dict[str, List[tuple]] = {}
        self.iteration = 0

    def enter(self, phase: str) -> None:
        events = None
        if torch.cuda.is_available():
            events = (torch.cuda.Event(enable_timing=True),
                      torch.cuda.Event(enable_timing=True))
            events[0].record()
        self.started[phase] = (events, time.perf_counter())

    def exit(self, phase: str) -> None:
        events, start = self.started.pop(phase)
        host = time.perf_counter() - start
        if events:
            events[1].record()
        self.pending.append((phase, events, host))

    def after_iteration(self) -> None:
        """Collect the iteration's phases (the GPU has been synchronised)."""
        if self.warmup <= self.iteration < (self.end or float('inf')):
            for name, events, host in self.pending:
                gpu = events[0].elapsed_time(events[1]) / 1e3 if events else None
                self.samples.setdefault(name, []).append((gpu, host))
        self.pending = []
        self.iteration += 1

    def hook(self) -> Hook:
        """The hook that observes the phases from the start of training to
        its end (the optimiser wrapper exists from the start) and reads them
        after each iteration; register it after :class:`StepTimes`'
        ``first``."""
        phases = self
        observing = ExitStack()

        class Phases(Hook):
            priority = 'HIGHEST'

            def before_train(self, runner):
                mark_update_params(runner.optim_wrapper)
                observing.enter_context(observe_step_phases(phases))

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                phases.after_iteration()

            def after_train(self, runner):
                observing.close()

        return Phases()

    def summary(self) -> Dict[str, dict]:
        """Per phase: median GPU-timeline and host seconds per call."""
        out = {}
        for name, samples in self.samples.items():
            gpu = [g for g, _ in samples if g is not None]
            out[name] = {'gpu_s': statistics.median(gpu) if gpu else None,
                         'host_s': statistics.median(h for _, h in samples),
                         'calls': len(samples)}
        return out
