"""One check of mmseg_csl on a GPU, printed as one table.

    python benchmarks/gpu_check.py [--out DIR] [--iters 50] [--warmup 10]
        [--budget-s 420] [--sections tests selector training]
        [--methods csl unimatch supervised] [--precisions float32 bfloat16]

1. **CUDA tests**: ``pytest -m cuda tests/test_cuda``: the selector on the GPU
   against the released code's test vectors of both versions (looked for as
   ``tests/selector_vectors.py`` says) and against the CPU path; one
   ``SemiSegmentor`` training step per reference method in float32, bfloat16
   and float16 (finite float32 losses, gradients at both ends of the network);
   mmengine's ``AmpOptimWrapper`` in bfloat16 and float16.
2. **Selector time**: ``CSLSelector`` (both versions) and UniMatch's
   ``ThresholdSelector`` on B=8, K=21, 321x321 float32 probabilities, against
   one ``probs.max(1)`` on the same GPU: medians of CUDA-event timings,
   interleaved (target: CSL at most 2x ``probs.max(1)``); beside them the
   host's time to return from a call and the GPU kernels of a call and their
   time (torch.profiler).
3. **Training**: the Pascal VOC 2012 R101 configs (split 92) of the CSL
   release, UniMatch and the supervised baseline at their crop (321) and
   per-GPU batch (2 labeled + 4 unlabeled; 4 labeled for the baseline), on
   generated data through the dry-run machinery (``mmseg_csl.engine.dry_run``:
   no downloads, no pretrained weights, BN for SyncBN), in float32 and in
   bfloat16 mixed precision, each in a fresh process: seconds per iteration
   (median after ``--warmup`` iterations), of it ``train_step`` (forward,
   backward, optimizer step) and the rest (waiting for data, hooks), peak GPU
   memory (``torch.cuda.max_memory_allocated`` and ``_reserved``, over the
   whole run and after the warm-up), the CSL / UniMatch time ratio (target at
   most 1.05), whether bfloat16 fits a 24 GB card, and the allocator's
   cudaMalloc calls and retries in the steady iterations.

The table is also written to ``DIR/gpu_check.md`` (and the numbers to
``DIR/gpu_check.json``, the logs of every part to ``DIR/*.log``). Training
runs are cut short to keep the whole check inside ``--budget-s``; the table
says what ran. ``--smoke`` runs the training part on CPU with a small
backbone (a self-test of this script, as tests/test_benchmarks does).
``benchmarks/gpu/README.md`` says how to run it on a bare GPU machine.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from functools import partial
from typing import Callable, Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

CONFIGS = {
    'csl': 'configs/csl/csl_deeplabv3plus-r101-d8_4xb2-80e_voc12-321x321_92.py',
    'csl-masking':
    'configs/csl/csl-masking_deeplabv3plus-r101-d8_4xb2-80e_voc12-321x321_92.py',
    'unimatch':
    'configs/unimatch/unimatch_deeplabv3plus-r101-d8_4xb2-80e_voc12-321x321_92.py',
    'supervised':
    'configs/supervised/supervised_deeplabv3plus-r101-d8_4xb4-80e_voc12-321x321_92.py',
}
GIB = 2**30
# A 24 GB card (RTX 3090/4090, A5000, L4) offers about 23.6 GiB to PyTorch; the
# CUDA context and libraries take about 1 GiB of it besides the allocator's pool.
CARD_24GB_GIB = 23.6
CUDA_CONTEXT_GIB = 1.0
SELECTOR_TARGET = 2.0
RATIO_TARGET = 1.05
# --smoke: a backbone and head small enough for a CPU (tests' TINY_* of
# test_benchmark_configs), 64 px crops.
SMOKE_BACKBONE = dict(depth=18, stem_channels=16, base_channels=16)
SMOKE_HEAD = dict(in_channels=128, channels=32, c1_in_channels=16, c1_channels=8)
SMOKE_SIZE = 64


# ---------------------------------------------------------------------------
# 1. CUDA tests
# ---------------------------------------------------------------------------
def run_cuda_tests(out: str, timeout_s: float) -> List[List[str]]:
    """Rows (test, passed / run, failures) of ``pytest -m cuda tests/test_cuda``."""
    xml_path = osp.join(out, 'cuda_tests.xml')
    command = [sys.executable, '-m', 'pytest', '-m', 'cuda', 'tests/test_cuda', '-q',
               '-p', 'no:cacheprovider', f'--junitxml={xml_path}']
    code, seconds = run_logged(command, osp.join(out, 'cuda_tests.log'), timeout_s)
    if not osp.isfile(xml_path):
        return [['pytest -m cuda', f'no result (exit {code})', 'see cuda_tests.log']]
    groups: Dict[str, List[int]] = {}
    failures: Dict[str, List[str]] = {}
    skipped_reasons = set()
    for case in ElementTree.parse(xml_path).getroot().iter('testcase'):
        name = case.get('name', '')
        function, _, params = name.partition('[')
        counts = groups.setdefault(function, [0, 0, 0])  # passed, failed, skipped
        if case.find('skipped') is not None:
            counts[2] += 1
            skipped_reasons.add(case.find('skipped').get('message', ''))
        elif case.find('failure') is not None or case.find('error') is not None:
            counts[1] += 1
            failures.setdefault(function, []).append(params.rstrip(']') or name)
        else:
            counts[0] += 1
    rows = []
    for function, (passed, failed, skipped) in groups.items():
        note = ', '.join(failures.get(function, []))
        if skipped:
            note = (note + '; ' if note else '') + f'{skipped} skipped'
        rows.append([function, f'{passed} / {passed + failed}',
                     'FAILED: ' + note if failed else note or 'ok'])
    total = [sum(counts[i] for counts in groups.values()) for i in range(3)]
    rows.append(['all CUDA tests', f'{total[0]} / {total[0] + total[1]}',
                 f'{seconds:.0f} s' + (f'; skipped: {sorted(skipped_reasons)}'
                                       if total[2] else '')])
    return rows


def run_logged(command: List[str], log_path: str, timeout_s: float,
               env: Optional[dict] = None):
    """Run ``command`` in the repository root, its output to ``log_path``;
    returns (exit code or 'timeout', seconds)."""
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        try:
            code = subprocess.run(command, cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=max(1, timeout_s),
                                  env=env).returncode
        except subprocess.TimeoutExpired:
            code = 'timeout'
    return code, time.perf_counter() - start


# ---------------------------------------------------------------------------
# 2. Selector time
# ---------------------------------------------------------------------------
def call_medians(runs: Dict[str, Callable], repeats: int,
                 device: str = 'cuda') -> Dict[str, Dict[str, float]]:
    """Median milliseconds of each run, interleaved, after three warm-up calls
    each: ``'ms'`` between CUDA events around the call (on CPU, the host
    clock), ``'host_ms'`` the host's time to return from it (without a
    synchronisation after it: on a GPU, the time to queue its work, plus any
    wait for the GPU inside it)."""
    for fn in runs.values():
        for _ in range(3):
            fn()
    times = {name: {'ms': [], 'host_ms': []} for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            if device == 'cuda':
                start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
                start.record()
            host_start = time.perf_counter()
            fn()
            host_ms = (time.perf_counter() - host_start) * 1e3
            if device == 'cuda':
                end.record()
                torch.cuda.synchronize()
            times[name]['host_ms'].append(host_ms)
            times[name]['ms'].append(start.elapsed_time(end) if device == 'cuda'
                                     else host_ms)
    return {name: {key: statistics.median(values) for key, values in measured.items()}
            for name, measured in times.items()}


def device_activity(fn: Callable, calls: int, device: str = 'cuda') -> Dict[str, float]:
    """Per call of ``fn``, by torch.profiler: the operations that ran on
    ``device`` (on a GPU its kernels and copies; copies are counted apart) and
    the milliseconds they took, their sum (on a GPU, the time the GPU was
    busy)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    activity, wanted = ((ProfilerActivity.CUDA, DeviceType.CUDA) if device == 'cuda'
                        else (ProfilerActivity.CPU, DeviceType.CPU))
    with profile(activities=[activity]) as profiler:
        for _ in range(calls):
            fn()
        if device == 'cuda':
            torch.cuda.synchronize()
    events = [e for e in profiler.events() if e.device_type == wanted]
    copies = sum('memcpy' in e.name.lower() for e in events)
    return {'ops': (len(events) - copies) / calls, 'copies': copies / calls,
            'ms': sum(e.time_range.elapsed_us() for e in events) / 1e3 / calls}


def selector_timing(repeats: int, device: str = 'cuda', batch: int = 8,
                    size: int = 321, profile_calls: int = 10) -> dict:
    """The selectors against ``probs.max(1)`` on (batch, 21, size, size)
    float32 probabilities: :func:`call_medians` and :func:`device_activity`
    of each candidate. ``'release, without the value check'`` runs the CSL
    release selector's features and selection without the check of the
    probabilities' values, whose read of their summary waits for the GPU."""
    from benchmarks.selector_speed import make_inputs
    from mmseg_csl import CSLSelector, ThresholdSelector
    from mmseg_csl.models.selectors.confidence_features import confidence_features
    probs, valid = make_inputs(batch, 21, size, device)
    selectors = {f'CSLSelector {variant}': CSLSelector(variant=variant)
                 for variant in CSLSelector.VARIANTS}
    selectors.update({f'  {variant}, PyTorch ops': CSLSelector(variant=variant,
                                                               use_kernels=False)
                      for variant in CSLSelector.VARIANTS})
    selectors['ThresholdSelector 0.95 (UniMatch)'] = ThresholdSelector(0.95)
    runs = {'probs.max(1)': lambda: probs.max(1)}
    runs.update({name: partial(selector, probs, valid)
                 for name, selector in selectors.items()})
    runs['  of which: confidence features'] = partial(confidence_features, probs, valid)
    release, flat_valid = selectors['CSLSelector release'], valid.flatten(1)
    runs['  release, without the value check'] = lambda: release.select(
        confidence_features(probs, valid), flat_valid)
    medians = call_medians(runs, repeats, device)
    for name, fn in runs.items():
        medians[name].update(
            {f'device_{key}': value
             for key, value in device_activity(fn, profile_calls, device).items()})
    return {'medians_ms': medians, 'repeats': repeats,
            'input_mib': probs.numel() * probs.element_size() / 2**20}


SELECTOR_HEADER = ['candidate', 'median', 'x probs.max(1)', 'host time to return',
                   'GPU kernels (+ copies) per call', 'GPU busy per call', 'verdict']


def selector_rows(timing: dict) -> List[List[str]]:
    medians = timing['medians_ms']
    base = medians['probs.max(1)']['ms']
    rows = []
    for name, measured in medians.items():
        ratio = measured['ms'] / base
        verdict = ''
        if name.startswith('CSLSelector'):
            verdict = 'met' if ratio <= SELECTOR_TARGET else 'NOT met'
            verdict = f'target <= {SELECTOR_TARGET:g}x: {verdict}'
        rows.append([name, f'{measured["ms"]:.3f} ms', f'{ratio:.2f}x',
                     f'{measured["host_ms"]:.3f} ms',
                     f'{measured["device_ops"]:g} (+ {measured["device_copies"]:g})',
                     f'{measured["device_ms"]:.3f} ms', verdict])
    return rows


# ---------------------------------------------------------------------------
# 3. Training
# ---------------------------------------------------------------------------
def prepare_training_configs(methods: List[str], out: str, iters: int,
                             smoke: bool) -> Dict[str, str]:
    """For each method, its Pascal config rewritten by ``prepare_dry_run``
    (its data generated under ``out/data/<method>``) with ``iters``
    iterations, no checkpoint, dumped to ``out/configs/<method>.py``."""
    from mmseg_csl.engine import load_config, prepare_dry_run
    paths = {}
    os.makedirs(osp.join(out, 'configs'), exist_ok=True)
    for method in methods:
        cfg = load_config(osp.join(ROOT, CONFIGS[method]))
        if smoke:
            shrink_for_cpu(cfg)
        prepare_dry_run(cfg, osp.join(out, 'data', method), iters=iters,
                        precision='float32')
        cfg.default_hooks.checkpoint = None
        cfg.work_dir = osp.join(out, 'work_dirs', method)
        paths[method] = osp.join(out, 'configs', f'{method}.py')
        cfg.dump(paths[method])
    return paths


def shrink_for_cpu(cfg, max_side: int = SMOKE_SIZE,
                   small_model: bool = True) -> None:
    """Crops of at most ``max_side``, data loaded in the main process and,
    with ``small_model``, the smoke backbone and head."""
    from mmseg_csl.engine.dry_run import shrink_config
    if small_model:
        model = cfg.model.segmentor if cfg.model.type == 'SemiSegmentor' else cfg.model
        model.backbone.update(SMOKE_BACKBONE)
        model.decode_head.update(SMOKE_HEAD)
    shrink_config(cfg, max_side=max_side)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)


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
        from mmengine.hooks import Hook
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


def phase_range(name: str):
    """A profiler range named after a phase of the step (a no-op when no
    profiler runs)."""
    return torch.profiler.record_function(f'phase:{name.strip("_")}')


class StepProfile:
    """A hook that runs torch.profiler over ``count`` iterations from
    iteration ``start`` and writes to ``path``: per phase of the step, its host
    time and the GPU time of the kernels it launched (is a phase bound by the
    GPU or by the host launching its kernels?), and the operators' totals by
    self GPU time and by CPU time."""

    def __init__(self, start: int, count: int, path: str) -> None:
        from mmengine.hooks import Hook
        profile = self

        class Profile(Hook):
            priority = 'LOWEST'

            def before_train_iter(self, runner, batch_idx, data_batch=None):
                if batch_idx == start:
                    activities = [torch.profiler.ProfilerActivity.CPU]
                    if torch.cuda.is_available():
                        activities.append(torch.profiler.ProfilerActivity.CUDA)
                    profile.profiler = torch.profiler.profile(activities=activities)
                    profile.profiler.__enter__()

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                if batch_idx == start + count - 1:
                    StepTimes.now()  # waits for the GPU's queue
                    profile.profiler.__exit__(None, None, None)
                    averages = profile.profiler.key_averages()
                    with open(path, 'w') as f:
                        f.write(profile.phase_table(averages, count) + '\n\n')
                        for key in ('self_cuda_time_total', 'cpu_time_total'):
                            f.write(f'{count} iterations, by {key}\n')
                            f.write(averages.table(sort_by=key, row_limit=30))
                            f.write('\n\n')

        self.hook = Profile()

    @staticmethod
    def phase_table(averages, count: int) -> str:
        """Per phase and iteration: host milliseconds and the GPU
        milliseconds of its kernels; and all kernels' GPU time."""
        def device_ms(event, attr):
            value = getattr(event, attr.replace('cuda', 'device'), None)
            return (value if value is not None else getattr(event, attr, 0)) / 1e3

        rows = [[event.key[len('phase:'):],
                 f'{event.cpu_time_total / 1e3 / count:.1f}',
                 f'{device_ms(event, "cuda_time_total") / count:.1f}']
                for event in averages if event.key.startswith('phase:')]
        busy = sum(device_ms(event, 'self_cuda_time_total') for event in averages)
        rows.append(['all kernels of the profiled iterations', '',
                     f'{busy / count:.1f}'])
        return (f'{count} profiled iterations, ms per iteration\n'
                + markdown_table(['phase', 'host', 'GPU kernels'], rows))


class PhaseTimes:
    """Where a training step's time goes, without adding a synchronisation:
    CUDA events (and host clocks) at the boundaries of ``SemiSegmentor``'s
    named steps and of the optimiser's update (backward and step). Between
    two events lies the time the GPU's timeline spent on that phase: its
    kernels, or its waiting for the host to launch them. Read out after each
    iteration, once :class:`StepTimes` has synchronised."""

    PHASES = ('_labeled_and_weak_forward', 'pseudo_labels', 'strong_views',
              'unsupervised_losses', 'update_params')

    def __init__(self, warmup: int, end: Optional[int] = None) -> None:
        self.warmup, self.end = warmup, end
        self.pending: List[tuple] = []
        self.samples: Dict[str, List[tuple]] = {}
        self.iteration = 0

    @classmethod
    def wrap(cls, model, optim_wrapper,
             wrapper: Callable[[str, Callable], Callable]) -> None:
        """Replace each phase method of ``model`` and ``optim_wrapper`` by
        ``wrapper(name, method)``."""
        for owner in (model, optim_wrapper):
            for name in cls.PHASES:
                if hasattr(owner, name):
                    setattr(owner, name, wrapper(name, getattr(owner, name)))

    def attach(self, runner) -> None:
        from mmengine.model import is_model_wrapper
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.wrap(model, runner.optim_wrapper, self._timed)

    def _timed(self, name: str, method: Callable) -> Callable:
        def timed(*args, **kwargs):
            events = None
            if torch.cuda.is_available():
                events = (torch.cuda.Event(enable_timing=True),
                          torch.cuda.Event(enable_timing=True))
                events[0].record()
            start = time.perf_counter()
            with phase_range(name):
                result = method(*args, **kwargs)
            host = time.perf_counter() - start
            if events:
                events[1].record()
            self.pending.append((name, events, host))
            return result
        return timed

    def after_iteration(self) -> None:
        """Collect the iteration's phases (the GPU has been synchronised)."""
        if self.warmup <= self.iteration < (self.end or float('inf')):
            for name, events, host in self.pending:
                gpu = events[0].elapsed_time(events[1]) / 1e3 if events else None
                self.samples.setdefault(name, []).append((gpu, host))
        self.pending = []
        self.iteration += 1

    def hook(self):
        """The hook that attaches the timers when training starts (the
        optimiser wrapper exists from then) and reads them after each
        iteration; register it after :class:`StepTimes`' ``first``."""
        from mmengine.hooks import Hook
        phases = self

        class Phases(Hook):
            priority = 'HIGHEST'

            def before_train(self, runner):
                phases.attach(runner)

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                phases.after_iteration()

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


def train_run(config: str, precision: str, warmup: int, iters: int,
              out_json: str, profile_iters: int = 0) -> None:
    """One training run (in its own process): the dumped config in
    ``precision`` for ``iters`` iterations, timed by :class:`StepTimes`, the
    summary to ``out_json``; with ``profile_iters``, a profile of that many
    more iterations, after the timed ones, beside it (:class:`StepProfile`)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from mmseg_csl.engine.precision import set_precision, training_precision
    start = time.perf_counter()
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    set_precision(cfg, precision)
    total = iters + profile_iters
    cfg.train_cfg.update(max_iters=total, val_interval=total)
    cfg.work_dir = osp.join(cfg.work_dir, precision)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    runner = Runner.from_cfg(cfg)
    times = StepTimes(warmup, end=iters)
    runner.register_hook(times.first)
    runner.register_hook(times.last)
    phases = PhaseTimes(warmup, end=iters)
    runner.register_hook(phases.hook())
    if profile_iters:
        runner.register_hook(StepProfile(
            iters, profile_iters, out_json.replace('.json', '_profile.txt')).hook)
    runner.train()
    summary = times.summary()
    summary.update(phases=phases.summary(), precision=training_precision(cfg),
                   optim_wrapper=type(runner.optim_wrapper).__name__,
                   iters=runner.iter, wall_s=time.perf_counter() - start,
                   device=torch.cuda.get_device_name() if torch.cuda.is_available()
                   else 'cpu')
    with open(out_json, 'w') as f:
        json.dump(summary, f, indent=1)


def training_runs(args, out: str, deadline: float) -> List[dict]:
    """Prepare the configs, then one process per (method, precision),
    bfloat16 first. Each run gets an equal share of the time left to the runs
    of its precision, so that the methods of one precision, which the ratios
    compare, are run together before the next precision starts: after the
    first, its iterations are cut (to no fewer than ``warmup + 5``) where the
    times measured so far say that ``--iters`` would not fit. With
    ``--rounds``, the methods of a precision run in turn that many times
    (the spread of one process's timings against another's), the profile in
    the last round."""
    configs = prepare_training_configs(args.methods, out, args.iters, args.smoke)
    runs = [(method, precision, round_) for precision in reversed(args.precisions)
            for round_ in range(1, args.rounds + 1) for method in args.methods]
    results: List[dict] = []
    for index, (method, precision, round_) in enumerate(runs):
        name = f'{method}_{precision}'
        if args.rounds > 1:
            name += f'_round{round_}'
        left = deadline - time.perf_counter()
        share = left / sum(p == precision for _, p, _ in runs[index:])
        iters = planned_iterations(results, precision, share, args)
        if left < 20 or iters is None:
            results.append(dict(method=method, precision=precision,
                                round=round_, rounds=args.rounds,
                                error='not run: out of time'))
            continue
        out_json = osp.join(out, f'train_{name}.json')
        command = [sys.executable, osp.abspath(__file__), '--train-run',
                   configs[method], '--precision', precision, '--warmup',
                   str(args.warmup), '--iters', str(iters), '--json', out_json,
                   '--profile-iters',
                   str(args.profile_iters if round_ == args.rounds else 0)]
        timeout = left if index == len(runs) - 1 else min(left, max(1.5 * share, 90))
        code, seconds = run_logged(command, osp.join(out, f'train_{name}.log'),
                                   timeout)
        result = dict(method=method, precision=precision, round=round_,
                      rounds=args.rounds, seconds=seconds)
        if code == 0 and osp.isfile(out_json):
            with open(out_json) as f:
                result.update(json.load(f))
        else:
            result['error'] = f'exit {code} after {seconds:.0f} s, see train_{name}.log'
        print(f'  {name}: {iters} iterations, '
              f'{result.get("iter_s", result.get("error"))} s/it, {seconds:.0f} s',
              flush=True)
        results.append(result)
    return results


def planned_iterations(results: List[dict], precision: str, share: float,
                       args) -> Optional[int]:
    """Iterations of the next run: ``--iters``, or fewer where the runs so
    far (their time per iteration, in this precision if one ran, float32
    taken as twice bfloat16 otherwise, and their fixed cost) say that they
    would not fit ``share`` seconds; None where not even ``warmup + 5``
    would."""
    done = [r for r in results if 'iter_s' in r]
    if not done:
        return args.iters
    same = [r['iter_s'] for r in done if r['precision'] == precision]
    per_iter = max(same) if same else max(r['iter_s'] for r in done) * (
        2.0 if precision == 'float32' else 1.0)
    fixed = max(r['seconds'] - r['iters'] * r['iter_s'] for r in done)
    fit = int((share - fixed) / per_iter)
    if fit < args.warmup + 5:
        return None
    return min(args.iters, fit)


def run_label(result: dict) -> str:
    """'csl bfloat16', and the round where there are several."""
    label = f'{result["method"]} {result["precision"]}'
    return label + (f' #{result["round"]}' if result.get('rounds', 1) > 1 else '')


def training_rows(results: List[dict]) -> List[List[str]]:
    rows = []
    for result in results:
        label = run_label(result)
        if 'error' in result:
            rows.append([label, result['error'], '', '', '', ''])
            continue
        losses = result.get('losses', {})
        finite = all(v == v and abs(v) != float('inf') for v in losses.values())
        memory = ('{:.2f} / {:.2f} GiB'.format(
            result['steady_allocated_gib'], result['steady_reserved_gib'])
            if 'steady_allocated_gib' in result else 'n/a')
        warm_memory = ('{:.2f} / {:.2f} GiB'.format(
            result['warmup_allocated_gib'], result['warmup_reserved_gib'])
            if 'warmup_allocated_gib' in result else 'n/a')
        rows.append([
            label,
            f'{result["iter_s"]:.3f} s',
            f'{result["step_s"]:.3f} s (+{result["iter_s"] - result["step_s"]:.3f})',
            memory, warm_memory,
            f'{result["iters"]} it ({result["timed_iters"]} timed), '
            f'first {result["first_iter_s"]:.1f} s, losses '
            f'{"finite" if finite else "NOT FINITE"}, {result["optim_wrapper"]}'
            + allocator_note(result)])
    return rows


def allocator_note(result: dict) -> str:
    """What the allocator did in the steady iterations, if it was read."""
    if 'steady_device_allocs' not in result:
        return ''
    return (f', steady iterations after the first: {result["steady_device_allocs"]} '
            f'cudaMalloc, {result["steady_alloc_retries"]} retries')


def phase_rows(results: List[dict]) -> List[List[str]]:
    """One row per phase of train_step, one column per run: median
    milliseconds on the GPU's timeline / on the host."""
    runs = [r for r in results if r.get('phases')]
    rows = []
    for phase in PhaseTimes.PHASES:
        cells = []
        for run in runs:
            timing = run['phases'].get(phase)
            if timing is None:
                cells.append('-')
                continue
            gpu = timing['gpu_s']
            gpu = f'{1e3 * gpu:.1f}' if gpu is not None else 'n/a'
            cells.append(f'{gpu} / {1e3 * timing["host_s"]:.1f}')
        rows.append([phase.strip('_')] + cells)
    return rows


def phase_header(results: List[dict]) -> List[str]:
    return ['phase (ms: GPU timeline / host)'] + [
        run_label(r) for r in results if r.get('phases')]


def training_verdicts(results: List[dict]) -> List[List[str]]:
    """The CSL / UniMatch ratios, pairing the runs of one round (their median
    over rounds, each round's beside it), and the 24 GB verdicts."""
    by_name = {(r['method'], r['precision'], r.get('round', 1)): r
               for r in results if 'error' not in r}
    rows = []
    for precision in ('float32', 'bfloat16'):
        pairs = [(by_name[('csl', precision, round_)], unimatch)
                 for (method, p, round_), unimatch in by_name.items()
                 if method == 'unimatch' and p == precision
                 and ('csl', precision, round_) in by_name]
        if not pairs:
            continue
        ratios = [csl['iter_s'] / unimatch['iter_s'] for csl, unimatch in pairs]
        step_ratios = [csl['step_s'] / unimatch['step_s'] for csl, unimatch in pairs]
        ratio = statistics.median(ratios)
        value = (f'{ratio:.3f}x (train_step alone '
                 f'{statistics.median(step_ratios):.3f}x)')
        if len(pairs) > 1:
            value += (f'; median of {len(pairs)} rounds: '
                      + ', '.join(f'{r:.3f}' for r in ratios))
        verdict = 'met' if ratio <= RATIO_TARGET else 'NOT met'
        rows.append([f'CSL / UniMatch time per iteration, {precision}', value,
                     f'target <= {RATIO_TARGET}: {verdict}'])
    for method in ('csl', 'unimatch', 'supervised'):
        run = by_name.get((method, 'bfloat16', 1))
        if run and 'steady_reserved_gib' in run:
            need = run['steady_reserved_gib'] + CUDA_CONTEXT_GIB
            fits = 'yes' if need <= CARD_24GB_GIB else 'NO'
            rows.append([f'{method} bfloat16 fits a 24 GB card',
                         f'{fits}: steady peak reserved + {CUDA_CONTEXT_GIB:g} GiB '
                         f'context '
                         f'= {need:.1f} GiB',
                         f'<= {CARD_24GB_GIB} GiB usable'])
    return rows


# ---------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------
def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(' --- ' for _ in header) + '|']
    lines += ['| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in rows]
    return '\n'.join(lines)


def environment_line() -> str:
    import mmcv
    import mmengine
    import mmseg

    from mmseg_csl.ops import kernels_built
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'
    build = os.environ.get('MMCV_BUILD')  # set by benchmarks/gpu/run_gpu_check.sh
    build = f' ({build})' if build else ''
    return (f'{device}, {os.cpu_count()} CPU cores; torch {torch.__version__} '
            f'(CUDA {torch.version.cuda}, '
            f'cuDNN {torch.backends.cudnn.version()}), mmcv {mmcv.__version__}{build}, '
            f'mmengine {mmengine.__version__}, mmseg {mmseg.__version__}; '
            f'mmseg_csl kernels built: CPU {kernels_built("cpu")}, CUDA '
            f'{kernels_built("cuda")}; TF32: matmul '
            f'{torch.backends.cuda.matmul.allow_tf32}, cuDNN '
            f'{torch.backends.cudnn.allow_tf32}')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=osp.join(ROOT, 'work_dirs', 'gpu_check'))
    parser.add_argument('--iters', type=int, default=50,
                        help='training iterations per run (default 50)')
    parser.add_argument('--warmup', type=int, default=10,
                        help='iterations left out of the timings (default 10)')
    parser.add_argument('--repeats', type=int, default=50,
                        help='timed calls of each selector candidate')
    parser.add_argument('--budget-s', type=float, default=420,
                        help='the whole check stays inside this many seconds')
    parser.add_argument('--sections', nargs='+',
                        default=['tests', 'selector', 'training'],
                        choices=['tests', 'selector', 'training'])
    parser.add_argument('--methods', nargs='+',
                        default=['csl', 'unimatch', 'supervised'],
                        choices=sorted(CONFIGS))
    parser.add_argument('--precisions', nargs='+', default=['float32', 'bfloat16'],
                        choices=['float32', 'bfloat16', 'float16'])
    parser.add_argument('--smoke', action='store_true',
                        help='training on CPU with a small backbone (self-test)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='run the methods of each precision in turn this '
                        'many times; the ratios pair the runs of a round')
    parser.add_argument('--profile-iters', type=int, default=0,
                        help='profile this many training iterations after the '
                        'timed ones, in the last round (torch.profiler; per '
                        'phase and per operator to train_<run>_profile.txt)')
    # one training run, in a process of its own (used by the check itself)
    parser.add_argument('--train-run', help=argparse.SUPPRESS)
    parser.add_argument('--precision', help=argparse.SUPPRESS)
    parser.add_argument('--json', help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.train_run:
        train_run(args.train_run, args.precision, args.warmup, args.iters, args.json,
                  args.profile_iters)
        return
    start = time.perf_counter()
    deadline = start + args.budget_s
    os.makedirs(args.out, exist_ok=True)
    if not torch.cuda.is_available() and not args.smoke:
        sys.exit('gpu_check.py needs a CUDA GPU (--smoke: the training on CPU)')
    if args.smoke:  # AmpOptimWrapper needs a GPU
        args.sections, args.precisions = ['training'], ['float32']
    sections = [f'# mmseg_csl GPU check\n\n{environment_line()}']
    report: dict = {'environment': environment_line()}
    print(sections[0], flush=True)

    if 'tests' in args.sections:
        print('1. CUDA tests ...', flush=True)
        rows = run_cuda_tests(args.out,
                              timeout_s=min(150, deadline - time.perf_counter()))
        report['cuda_tests'] = rows
        sections.append('## 1. CUDA tests (pytest -m cuda tests/test_cuda)\n\n'
                        + markdown_table(['test', 'passed', 'notes'], rows))
        print('\n' + sections[-1], flush=True)
    if 'selector' in args.sections:
        print('2. selector time ...', flush=True)
        timing = selector_timing(args.repeats)
        report['selector'] = timing
        sections.append(
            f'## 2. Selector time on CUDA: B=8, K=21, 321x321 float32 '
            f'({timing["input_mib"]:.0f} MiB), median of {timing["repeats"]} '
            'CUDA-event timings; the host\'s time to return from a call '
            '(median) and what torch.profiler saw on the GPU (10 calls)\n\n'
            + markdown_table(SELECTOR_HEADER, selector_rows(timing)))
        print('\n' + sections[-1], flush=True)
    if 'training' in args.sections:
        print(f'3. training, {args.iters} iterations per run ...', flush=True)
        results = training_runs(args, args.out, deadline)
        report['training'] = results
        sections.append(
            f'## 3. Pascal VOC R101 configs (split 92), crop 321, per-GPU batch '
            f'2 + 4 (supervised: 4), generated data; {args.iters} iterations per '
            f'run, the first {args.warmup} not timed; medians\n\n'
            + markdown_table(['run', 's / iteration', 'of which train_step (+ rest)',
                              'peak memory after warm-up (allocated / reserved)',
                              'peak memory in warm-up', 'notes'],
                             training_rows(results))
            + '\n\n' + markdown_table(['check', 'value', 'target'],
                                      training_verdicts(results)
                                      or [['(no pair of runs to compare)', '', '']])
            + '\n\nWhere train_step goes (medians per iteration; CUDA events at '
            'the boundaries of SemiSegmentor\'s steps and of the optimiser\'s '
            'update, no added synchronisation):\n\n'
            + markdown_table(phase_header(results), phase_rows(results)))
        print('\n' + sections[-1], flush=True)
    total = time.perf_counter() - start
    sections.append(f'Total time of the check: {total:.0f} s '
                    f'(budget {args.budget_s:.0f} s).')
    table = '\n\n'.join(sections)
    print('\n\nThe whole table:\n\n' + table, flush=True)
    with open(osp.join(args.out, 'gpu_check.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.out, 'gpu_check.json'), 'w') as f:
        json.dump(report, f, indent=1, default=str)


if __name__ == '__main__':
    main()
