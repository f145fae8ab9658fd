"""The rows of the GPU check's tables and its verdicts against the targets."""
import os
import statistics
from typing import List

import torch

from benchmarks.gpu.step_timing import PhaseTimes

# A 24 GB card (RTX 3090/4090, A5000, L4) offers about 23.6 GiB to PyTorch; the
# CUDA context and libraries take about 1 GiB of it besides the allocator's pool.
CARD_24GB_GIB = 23.6
CUDA_CONTEXT_GIB = 1.0
SELECTOR_TARGET = 2.0
RATIO_TARGET = 1.05

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
