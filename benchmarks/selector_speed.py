"""Speed and memory of CSLSelector against a per-image reference and probs.max(1).

    python benchmarks/selector_speed.py [--batch 8] [--classes 21] [--size 321]
        [--threads 2] [--repeats 5] [--device cpu] [--variant release masking]

Prints the median time of each candidate, measured side by side (interleaved) in
one run, for each CSLSelector variant named (default: all) the two ratios the CSL
core is held to, and the peak extra host memory of each candidate measured in a
fresh subprocess (CPU only).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from typing import Callable, Dict, Sequence

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmseg_csl import CSLSelector  # noqa: E402
from mmseg_csl.analysis.reference_csl import reference_csl  # noqa: E402
from mmseg_csl.ops import kernels_built  # noqa: E402


def make_inputs(batch: int, classes: int, size: int, device: str):
    """Softmax probabilities of random logits, built one image at a time so that
    building them leaves no memory high-water mark above the inputs themselves."""
    generator = torch.Generator().manual_seed(0)
    probs = torch.empty(batch, classes, size, size)
    for image in probs:
        image.copy_((torch.randn(image.shape, generator=generator) * 4).softmax(0))
    valid = torch.rand(batch, size, size, generator=generator) > 0.05
    return probs.to(device), valid.to(device)


def candidates(probs, valid, csl_variants: Sequence[str]) -> Dict[str, Callable]:
    """What is timed: ``probs.max(1)``, then for each CSLSelector variant the
    selector, its PyTorch path and the per-image reference. On CPU,
    ``CSLSelector <variant>`` uses the compiled kernels when they are built;
    ``..., PyTorch ops`` is the path every other device takes."""
    runs = {'probs.max(1)': lambda: probs.max(1)}
    for variant in csl_variants:
        selector = CSLSelector(variant=variant)
        eager = CSLSelector(variant=variant, use_kernels=False)
        runs.update({
            f'CSLSelector {variant}': partial(selector, probs, valid),
            f'CSLSelector {variant}, PyTorch ops': partial(eager, probs, valid),
            f'reference {variant} (per-image SVD)': partial(
                reference_csl, probs, valid, variant=variant),
        })
    return runs


def timed(fn, device: str) -> float:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_memory_mib(args, name: str) -> float:
    """Peak resident memory of one call of candidate ``name`` above the resident
    memory just before it (inputs included there), in a fresh process: the kernel's
    high-water mark is reset first (Linux /proc/self/clear_refs)."""
    code = (
        'import sys; sys.path.insert(0, {root!r}); '
        'import torch; torch.set_num_threads({threads}); '
        'from benchmarks.selector_speed import make_inputs, candidates, status_kib; '
        'p, v = make_inputs({batch}, {classes}, {size}, "cpu"); '
        'fn = candidates(p, v, {variant!r})[{name!r}]; '
        'open("/proc/self/clear_refs", "w").write("5"); '
        'base = status_kib("VmRSS"); fn(); '
        'print((status_kib("VmHWM") - base) / 1024)'
    ).format(root=ROOT, name=name, **vars(args))
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def status_kib(field: str) -> int:
    """A memory field of /proc/self/status, in KiB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--classes', type=int, default=21)
    parser.add_argument('--size', type=int, default=321)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--variant', nargs='+', choices=tuple(CSLSelector.VARIANTS),
                        default=list(CSLSelector.VARIANTS),
                        help='CSLSelector variants to time (default: all)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    probs, valid = make_inputs(args.batch, args.classes, args.size, args.device)
    runs = candidates(probs, valid, args.variant)
    for fn in runs.values():  # warm-up
        fn()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn, args.device))
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f'B={args.batch} K={args.classes} {args.size}x{args.size} float32 '
          f'device={args.device} threads={args.threads} repeats={args.repeats} '
          f'compiled CPU kernels built: {kernels_built()}')
    for name, seconds in median.items():
        print(f'  {name:34s} {seconds * 1e3:9.2f} ms (median)')
    for variant in args.variant:
        csl = median[f'CSLSelector {variant}']
        speedup = median[f'reference {variant} (per-image SVD)'] / csl
        print(f'  {variant}: reference / CSLSelector    {speedup:9.2f}x  (target >= 8)')
        cost = csl / median['probs.max(1)']
        print(f'  {variant}: CSLSelector / probs.max(1) {cost:9.2f}x  (target <= 2.5)')
    if args.device == 'cpu':
        for name in runs:
            extra = peak_memory_mib(args, name)
            print(f'  peak extra memory {name:34s} {extra:8.1f} MiB')
        input_mib = probs.numel() * probs.element_size() / 2 ** 20
        print(f'  (input probabilities: {input_mib:.1f} MiB)')


if __name__ == '__main__':
    main()
