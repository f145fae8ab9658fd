"""Part 3 of the GPU check: training runs of the Pascal R101 configs, each in a
process of its own."""
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

import torch

from benchmarks.gpu.configs import CONFIGS, ROOT, SMOKE_MODEL, SMOKE_SIZE
from benchmarks.gpu.processes import run_logged
from benchmarks.gpu.profiling import StepProfile
from benchmarks.gpu.step_timing import PhaseTimes, StepTimes

CHECK = osp.join(osp.dirname(osp.abspath(__file__)), 'check.py')


def prepare_training_configs(methods: List[str], out: str, iters: int,
                             smoke: bool) -> Dict[str, str]:
    """For each method, its Pascal config rewritten by ``prepare_dry_run``
    (its data generated under ``out/data/<method>``) with ``iters``
    iterations, no checkpoint, dumped to ``out/configs/<method>.py``; with
    ``smoke``, the small model at small crops, loading in the main process."""
    from mmseg_csl.engine import load_config, prepare_dry_run
    from mmseg_csl.engine.dry_run import shrink_config
    paths = {}
    os.makedirs(osp.join(out, 'configs'), exist_ok=True)
    for method in methods:
        cfg = load_config(osp.join(ROOT, CONFIGS[method]))
        if smoke:
            shrink_config(cfg, max_side=SMOKE_SIZE, model_update=SMOKE_MODEL,
                          load_in_main_process=True)
        prepare_dry_run(cfg, osp.join(out, 'data', method), iters=iters,
                        precision='float32')
        cfg.default_hooks.checkpoint = None
        cfg.work_dir = osp.join(out, 'work_dirs', method)
        paths[method] = osp.join(out, 'configs', f'{method}.py')
        cfg.dump(paths[method])
    return paths


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
        command = [sys.executable, CHECK, '--train-run',
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
