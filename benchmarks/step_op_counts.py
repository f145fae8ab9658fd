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

from benchmarks.gpu_check import CONFIGS, PhaseTimes, shrink_for_cpu  # noqa: E402


class OperatorCount(TorchDispatchMode):
    """Counts the ATen operators dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def counted(counts: Dict[str, int], name: str, method: Callable) -> Callable:
    """``method``, leaving the operators of its last call in ``counts[name]``."""
    def wrapper(*args, **kwargs):
        with OperatorCount() as counter:
            result = method(*args, **kwargs)
        counts[name] = counter.count
        return result
    return wrapper


def phase_counts(method: str, crop: int, iters: int, smoke: bool, bf16: bool,
                 out: str) -> Dict[str, int]:
    """Operators per phase of the last of ``iters`` steps of ``method``."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from mmseg_csl.engine import load_config, prepare_dry_run
    from mmseg_csl.engine.dry_run import shrink_config
    cfg = load_config(osp.join(ROOT, CONFIGS[method]))
    if smoke:
        shrink_for_cpu(cfg)
    shrink_config(cfg, max_side=crop)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
    prepare_dry_run(cfg, osp.join(out, 'data', method), iters=iters,
                    precision='float32')
    cfg.work_dir = osp.join(out, 'work_dirs', method)
    cfg.log_level = 'WARNING'
    init_default_scope('mmseg')
    runner = Runner.from_cfg(cfg)
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    model = runner.model
    counts: Dict[str, int] = {}
    for owner in (model, optim_wrapper):
        for name in PhaseTimes.PHASES:
            if hasattr(owner, name):
                setattr(owner, name,
                        counted(counts, name.strip('_'), getattr(owner, name)))
    batches = iter(runner.train_dataloader)
    model.train()
    for _ in range(iters):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            model.train_step(next(batches), optim_wrapper)
    return counts


def table(results: Dict[str, Dict[str, int]]) -> str:
    methods = list(results)
    phases = list(results[methods[0]])
    lines = ['| phase | ' + ' | '.join(methods) + ' |',
             '|---|' + '---|' * len(methods)]
    for phase in phases + ['all']:
        cells = [str(sum(counts.values()) if phase == 'all' else counts.get(phase, '-'))
                 for counts in results.values()]
        lines.append(f'| {phase} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


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
