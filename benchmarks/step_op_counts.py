"""Operators that each phase of a SemiSegmentor training step dispatches, per
method, counted on CPU.

    python benchmarks/step_op_counts.py [--methods csl unimatch] [--crop 65]
        [--iters 3] [--bf16] [--smoke] [--out DIR]

On a GPU the step of the Pascal R101 configs is bound by the host launching
kernels (``benchmarks/gpu/RESULTS.md``): what a phase costs there follows the
number of operators it dispatches more than their size. This counts them,
without a GPU: the configs of ``benchmarks/gpu/check.py`` on generated data
at a small crop (the operators do not depend on it), float32 (``--bf16``:
under CPU autocast to bfloat16, as mixed precision adds its casts), one
thread; each phase of the last of ``--iters`` training steps (the same phases
as the GPU check's "where train_step goes": those ``SemiSegmentor`` marks,
:mod:`mmseg_csl.models.utils.step_phases`, and the optimiser wrapper's
``update_params``, i.e. backward and step). Operators are ATen calls as
PyTorch's dispatcher sees them (``TorchDispatchMode``), views and in-place
ones included; the compiled selection kernels count as none. ``--smoke``
uses the GPU check's small backbone.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List

import torch
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.gpu.configs import CONFIGS, SMOKE_MODEL  # noqa: E402
from benchmarks.gpu.step_timing import mark_update_params  # noqa: E402
from mmseg_csl.models.utils import (  # noqa: E402
    StepPhaseObserver,
    observe_step_phases,
)
from mmseg_csl.utils import markdown_table  # noqa: E402


class OperatorCount(TorchDispatchMode):
    """Counts the ATen operators dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


class PhaseOperatorCounts(StepPhaseObserver):
    """Leaves the operators of each phase's last run in ``counts[phase]``."""

    def __init__(self) -> None:
        self.counts: Dict[str, int] = {}
        self.counting: Dict[str, OperatorCount] = {}

    def enter(self, phase: str) -> None:
        self.counting[phase] = OperatorCount().__enter__()

    def exit(self, phase: str) -> None:
        counter = self.counting.pop(phase)
        counter.__exit__(None, None, None)
        self.counts[phase] = counter.count


def phase_counts(method: str, crop: int, iters: int, smoke: bool, bf16: bool,
                 out: str) -> Dict[str, int]:
    """Operators per phase of the last of ``iters`` steps of ``method``."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from mmseg_csl.engine import load_config, prepare_dry_run
    from mmseg_csl.engine.dry_run import shrink_config
    cfg = load_config(osp.join(ROOT, CONFIGS[method]))
    shrink_config(cfg, max_side=crop, model_update=SMOKE_MODEL if smoke else None,
                  load_in_main_process=True)
    prepare_dry_run(cfg, osp.join(out, 'data', method), iters=iters,
                    precision='float32')
    cfg.work_dir = osp.join(out, 'work_dirs', method)
    cfg.log_level = 'WARNING'
    init_default_scope('mmseg')
    runner = Runner.from_cfg(cfg)
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    model = runner.model
    mark_update_params(optim_wrapper)
    batches = iter(runner.train_dataloader)
    model.train()
    with observe_step_phases(PhaseOperatorCounts()) as operators:
        for _ in range(iters):
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                model.train_step(next(batches), optim_wrapper)
    return operators.counts


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
