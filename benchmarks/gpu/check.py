"""One check of mmseg_csl on a GPU, printed as one table.

    python benchmarks/gpu/check.py [--out DIR] [--iters 50] [--warmup 10]
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
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from benchmarks.gpu.configs import CONFIGS  # noqa: E402
from benchmarks.gpu.cuda_tests import run_cuda_tests  # noqa: E402
from benchmarks.gpu.report import (  # noqa: E402
    SELECTOR_HEADER,
    environment_line,
    phase_header,
    phase_rows,
    selector_rows,
    training_rows,
    training_verdicts,
)
from benchmarks.gpu.selector_timing import selector_timing  # noqa: E402
from benchmarks.gpu.training import train_run, training_runs  # noqa: E402
from mmseg_csl.utils import markdown_table  # noqa: E402


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
        sys.exit('benchmarks/gpu/check.py needs a CUDA GPU (--smoke: the training '
                 'on CPU)')
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
