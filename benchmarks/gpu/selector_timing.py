"""Part 2 of the GPU check: the selectors' time against ``probs.max(1)``."""
import statistics
import time
from functools import partial
from typing import Callable, Dict

import torch


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
