"""Operators that each phase of a SemiSegmentor training step dispatches, per
method, counted on CPU.

    python benchmarks/step_op_counts.py [--methods csl unimatch] [--crop 65]
        [--iters 3] [--bf16] [--smoke] [--out DIR]

On a GPU the step of the Pascal R101 configs is bound by the host launching
kernels (``benchmarks/gpu/RESULTS.md``): what a phase costs there follows the
number of operators it dispatches more than their size. This counts them,
without a GPU: the configs of ``gpu_check.py`` on generated data at a small
crop (the operators do not depend on it), float32 (``--bf16``: under CPU
autocast to bfloat16, as mixed precision adds its casts), one thread; each
phase of
the last of ``--iters`` training steps (the same phases as ``gpu_check.py``'s
"where train_step goes": the methods of ``SemiSegmentor`` and the optimiser
wrapper's ``update_params``, i.e. backward and step). Operators are ATen
calls as PyTorch's dispatcher sees them (``TorchDispatchMode``), views and
in-place ones included; the compiled selection kernels count as none.
``--smoke`` uses ``gpu_check.py``'s small backbone.
"""
import argparse
import os.path as osp
import sys
from typing import Callable, Dict, List

import torch
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.gpu_check import (  # noqa: E402
    CONFIGS,
    PhaseTimes,
    markdown_table,
    shrink_for_cpu,
)


class OperatorCount(TorchDispatchMode):
    """Counts the ATen operators dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def counter_of(counts: Dict[str, int]) -> Callable[[str, Callable], Callable]:
    """A wrapper for :meth:`PhaseTimes.wrap` that leaves the operators of a
    phase's last call in ``counts[phase]``."""
    def counted(name: str, method: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            with OperatorCount() as counter:
                result = method(*args, **kwargs)
            counts[name.strip('_')] = counter.count
            return result
        return wrapper
    return counted


def phase_counts(method: str, crop: int, iters: int, smoke: bool, bf16: bool,
                 out: str) -> Dict[str, int]:
    """Operators per phase of the last of ``iters`` steps of ``method``."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from mmseg_csl.engine import load_config, prepare_dry_run
    cfg = load_config(osp.join(ROOT, CONFIGS[method]))
    shrink_for_cpu(cfg, max_side=crop, small_model=smoke)
    prepare_dry_run(cfg, osp.join(out, 'data', method), iters=iters,
                    precision='float32')
    cfg.work_dir = osp.join(out, 'work_dirs', method)
    cfg.log_level = 'WARNING'
    init_default_scope('mmseg')
    runner = Runner.from_cfg(cfg)
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    model = runner.model
    counts: Dict[str, int] = {}
    PhaseTimes.wrap(model, optim_wrapper, counter_of(counts))
    batches = iter(runner.train_dataloader)
    model.train()
    for _ in range(iters):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            model.train_step(next(batches), optim_wrapper)
    return counts


def table(results: Dict[str, Dict[str, int]]) -> str:
    """One row per phase and one for all, one column per method."""
    phases = list(next(iter(results.values())))
    rows = [[phase] + [counts.get(phase, '-') for counts in results.values()]
            for phase in phases]
    rows.append(['all'] + [sum(counts.values()) for counts in results.values()])
    return markdown_table(['phase', *results], rows)


def parse_args(argv: List[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--methods', nargs='+', default=['csl', 'unimatch'],
                        choices=sorted(set(CONFIGS) - {'supervised'}))
    parser.add_argument('--crop', type=int, default=65)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--bf16', action='store_true')
    parser.add_argument('--smoke', action='store_true')
    parser.add_argument('--out', default=osp.join(ROOT, 'work_dirs', 'step_op_counts'))
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    results = {method: phase_counts(method, args.crop, args.iters, args.smoke,
                                    args.bf16, args.out)
               for method in args.methods}
    print(f'Operators dispatched per phase of training step {args.iters} '
          f'(crop {args.crop}, CPU, '
          f'{"bfloat16 autocast" if args.bf16 else "float32"}'
          f'{", small backbone" if args.smoke else ""}):\n')
    print(table(results))


if __name__ == '__main__':
    main()
