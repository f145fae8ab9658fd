"""The embedded demo: add unlabeled data to a supervised model, on generated data.

    python tools/demo.py [--work-dir work_dirs/demo] [--warm-start-iters 800]
                         [--iters 400] [--seeds 0 1 2] [--lr LR]
                         [--num-labeled 16] [--num-unlabeled 384] [--num-val 64]
                         [--data-seed 0] [--fresh] [--workers N]

1. Writes the synthetic shapes dataset (mmseg_csl.datasets.synthetic_shapes) and
   its labeled/unlabeled split files under ``<work-dir>/shapes``, unless they are
   there from the same arguments. Nothing is downloaded.
2. Warm start: trains the supervised demo model from scratch on the labeled
   images (``configs/demo/supervised_*-800it_*``, seed: the first of ``--seeds``).
3. Continues from its checkpoint (``load_from``: the weights only) three ways
   for ``--iters`` iterations each, once per seed of ``--seeds``: supervised-only,
   UniMatch's fixed confidence threshold of 0.95, and the CSL release
   (``configs/demo/*-ft400it_*``).
4. Scores every model on the validation split (mIoU, per-class IoU) and prints
   one table, with the mean, standard deviation and per-seed values over the
   seeds, then says where the training curves (``curves.png``), the selection
   plots (``selection_<method>.png``), logs, checkpoints and ``results.json`` went.

Everything runs on CPU. A run whose result is on disk from the same settings
(its config, the checkpoint it starts from, the data, the package's sources and
the library versions) is reused, so an interrupted demo continues where it
stopped; a change retrains that run and the runs that start from it. The table
says which rows were reused (their wall times are those of the earlier
invocation); ``--fresh`` retrains everything.
"""
import argparse
import glob
import hashlib
import json
import math
import multiprocessing
import os
import os.path as osp
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import mmcv  # noqa: E402
import mmengine  # noqa: E402
import mmseg  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmseg_csl  # noqa: E402  (registers the package's components)
from mmseg_csl.analysis import score_test_split  # noqa: E402
from mmseg_csl.datasets.samplers.multi_source_sampler import (  # noqa: E402
    split_batch,
)
from mmseg_csl.datasets.synthetic_shapes import write_shapes_dataset  # noqa: E402
from mmseg_csl.utils import (  # noqa: E402
    config_dicts,
    markdown_table,
    number,
    read_log_scalars,
)

WARM_START = 'configs/demo/supervised_tiny-deeplabv3plus_1xb4-800it_shapes-64x64.py'
# Run folder -> (name in the table, config, colour in the plots), in table order.
FINE_TUNING = {
    'supervised': ('supervised-only',
                   'configs/demo/supervised_tiny-deeplabv3plus_1xb4-ft400it_'
                   'shapes-64x64.py', 'tab:blue'),
    'unimatch': ('UniMatch (threshold 0.95)',
                 'configs/demo/unimatch_tiny-deeplabv3plus_1xb12-ft400it_'
                 'shapes-64x64.py', 'tab:orange'),
    'csl': ('CSL release',
            'configs/demo/csl_tiny-deeplabv3plus_1xb12-ft400it_shapes-64x64.py',
            'tab:green'),
}
BASELINE = 'supervised'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--warm-start-iters', type=int, default=None,
                        help='iterations of the supervised warm start (default: '
                        'its config\'s, 800)')
    parser.add_argument('--iters', type=int, default=None,
                        help='iterations of each run that continues from it '
                        '(default: their configs\', 400)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='training seeds of the runs that continue')
    parser.add_argument('--lr', type=float, default=None,
                        help='learning rate of the runs that continue '
                        '(default: their configs\', 0.03)')
    parser.add_argument('--num-labeled', type=int, default=16)
    parser.add_argument('--num-unlabeled', type=int, default=384)
    parser.add_argument('--num-val', type=int, default=64)
    parser.add_argument('--data-seed', type=int, default=0,
                        help='seed of the generated images')
    parser.add_argument('--fresh', action='store_true',
                        help='retrain every run, even one whose result is on disk')
    parser.add_argument('--workers', type=int, default=None,
                        help='runs trained at the same time, each in a process '
                        'of its own (default: one per CPU core)')
    args = parser.parse_args(argv)
    for name in ('warm_start_iters', 'iters', 'num_labeled', 'num_unlabeled',
                 'num_val', 'workers'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must differ from each other, got {args.seeds}')
    if args.lr is not None and args.lr <= 0:
        parser.error(f'--lr must be positive, got {args.lr}')
    # The configs' values where none is given.
    continuing = Config.fromfile(osp.join(REPO_ROOT, FINE_TUNING['csl'][1]))
    if args.warm_start_iters is None:
        args.warm_start_iters = Config.fromfile(
            osp.join(REPO_ROOT, WARM_START)).train_cfg.max_iters
    args.iters = args.iters or continuing.train_cfg.max_iters
    args.lr = args.lr or continuing.optim_wrapper.optimizer.lr
    return args


def prepare_data(root: str, num_labeled: int, num_unlabeled: int, num_val: int,
                 seed: int) -> dict:
    """Write the dataset and its labeled/unlabeled split files unless a
    ``dataset.json`` records the same arguments; otherwise the old files go
    first, so that a smaller split leaves no stale image behind. Returns the
    recorded arguments."""
    spec = dict(root=root, labeled=num_labeled, unlabeled=num_unlabeled,
                train=num_labeled + num_unlabeled, val=num_val, seed=seed,
                size=[64, 64])
    spec_file = osp.join(root, 'dataset.json')
    if osp.exists(spec_file):
        with open(spec_file) as f:
            if json.load(f) == spec:
                return spec
        os.remove(spec_file)
    for folder in ('img_dir', 'ann_dir', 'splits'):
        shutil.rmtree(osp.join(root, folder), ignore_errors=True)
    write_shapes_dataset(root, dict(train=spec['train'], val=num_val), seed=seed)
    names = [f'{index:05d}' for index in range(spec['train'])]
    os.makedirs(osp.join(root, 'splits'), exist_ok=True)
    for split, members in (('labeled', names[:num_labeled]),
                           ('unlabeled', names[num_labeled:])):
        with open(osp.join(root, 'splits', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(members) + '\n')
    with open(spec_file, 'w') as f:
        json.dump(spec, f)
    return spec


def demo_config(path: str, run_dir: str, name: str, data: dict, iters: int,
                seed: int, load_from: Optional[str] = None,
                lr: Optional[float] = None) -> Config:
    """The config at ``path`` made into one run of the demo: its data
    (``data``: ``root`` and the split sizes), work dir, seed, starting
    checkpoint, learning rate and length. The model is scored after training
    (:func:`~mmseg_csl.analysis.score_test_split`), so the run does not
    validate."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    for node in config_dicts(cfg._cfg_dict):
        if 'data_root' in node:
            node['data_root'] = data['root']
    sampler = cfg.train_dataloader.sampler
    if sampler.type == 'MultiSourceSampler':
        # One epoch of the sampler for the whole run: mmengine's
        # IterBasedTrainLoop pauses 2 s at every restart of the dataloader, 16 s
        # in a run of 400 iterations over 384 unlabeled images.
        per_batch = split_batch(sampler.batch_size, sampler.source_ratio)[1]
        unlabeled = cfg.train_dataloader.dataset.datasets[1]
        cfg.train_dataloader.dataset.datasets[1] = dict(
            type='RepeatDataset', dataset=unlabeled,
            times=math.ceil(iters * per_batch / data['unlabeled']))
    cfg.work_dir = run_dir
    cfg.experiment_name = name
    cfg.visualizer.name = f'visualizer_{name}'
    cfg.randomness.seed = seed
    cfg.load_from = load_from
    cfg.resume = False
    if lr is not None:
        cfg.optim_wrapper.optimizer.lr = lr
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.pop('val_interval', None)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler[0].end = iters
    cfg.default_hooks.checkpoint.interval = iters
    # At least a few points on every curve, also for short runs.
    log_interval = max(1, min(cfg.default_hooks.logger.interval, iters // 10))
    cfg.default_hooks.logger.interval = log_interval
    for hook in cfg.get('custom_hooks', []):
        if hook.type == 'CSLSelectorHook':
            hook.interval, hook.plot_interval = log_interval, iters
    return cfg


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def code_digest() -> str:
    """What the package's code and the libraries are: a change retrains."""
    package = osp.dirname(mmseg_csl.__file__)
    digest = hashlib.sha256(' '.join(
        (torch.__version__, mmengine.__version__, mmcv.__version__,
         mmseg.__version__)).encode())
    for pattern in ('**/*.py', '**/*.cpp', '**/*.h'):
        for path in sorted(glob.glob(osp.join(package, pattern), recursive=True)):
            digest.update(osp.relpath(path, package).encode())
            digest.update(file_digest(path).encode())
    return digest.hexdigest()


def train_and_score(cfg: Config, settings: dict, fresh: bool) -> dict:
    """Train ``cfg`` and score it on the validation split, or reuse the result
    on disk of a run with the same ``settings`` (and config, and starting
    checkpoint). The result: mIoU, aAcc, ``class_iou``, ``wall_s`` and
    ``cpu_s`` (wall and CPU time of training and scoring), ``log_dir``,
    ``checkpoint``, ``sup_weight`` (the weight of the supervised loss in the
    total), ``reused``."""
    key = hashlib.sha256(json.dumps(dict(
        settings, config=cfg.pretty_text,
        load_from=cfg.load_from and file_digest(cfg.load_from)),
        sort_keys=True).encode()).hexdigest()
    result_file = osp.join(cfg.work_dir, 'result.json')
    if not fresh and osp.exists(result_file):
        with open(result_file) as f:
            result = json.load(f)
        if (result.get('key') == key and osp.exists(result['checkpoint'])
                and osp.exists(osp.join(result['log_dir'], 'vis_data'))):
            return dict(result, reused=True)
    shutil.rmtree(cfg.work_dir, ignore_errors=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    result = dict(score_test_split(runner), key=key, log_dir=runner.log_dir,
                  checkpoint=osp.join(cfg.work_dir,
                                      f'iter_{cfg.train_cfg.max_iters}.pth'),
                  sup_weight=getattr(runner.model, 'sup_weight', 1.0))
    result['wall_s'] = time.perf_counter() - start
    result['cpu_s'] = time.process_time() - cpu_start
    # Written last and whole: an interrupted run leaves no result behind.
    with open(result_file + '.tmp', 'w') as f:
        json.dump(result, f, indent=1)
    os.replace(result_file + '.tmp', result_file)
    return dict(result, reused=False)


def quiet_worker() -> None:
    """A worker prints nothing: mmengine's log file in each run folder keeps
    what it would print, and errors reach the main process."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def run_job(job: dict) -> dict:
    """One run in a worker process: ``job`` holds the keyword arguments of
    :func:`demo_config`, the ``settings``, ``fresh`` and the number of torch
    ``threads`` of the run."""
    job = dict(job)
    torch.set_num_threads(job.pop('threads'))
    settings, fresh = job.pop('settings'), job.pop('fresh')
    return train_and_score(demo_config(**job), settings, fresh)


def progress(label: str, result: dict) -> None:
    reused = ' (reused)' if result['reused'] else ''
    print(f'{label}: mIoU {result["mIoU"]:.2f}, {result["wall_s"]:.0f} s{reused}',
          flush=True)


def train_all(args: argparse.Namespace, work_dir: str, data: dict,
              settings: dict):
    """The warm start, then the runs that continue from it, ``args.workers``
    at a time in processes of their own, the CPU cores shared out among them.
    Returns the warm start's result and method -> results in seed order."""
    cores = os.cpu_count() or 1
    jobs = {(seed, key): dict(
        path=config, run_dir=osp.join(work_dir, f'seed{seed}', key),
        name=f'seed{seed}_{key}', data=data, iters=args.iters, seed=seed,
        lr=args.lr, settings=settings, fresh=args.fresh)
        for seed in args.seeds for key, (_, config, _) in FINE_TUNING.items()}
    workers = args.workers or min(len(jobs), cores)
    context = multiprocessing.get_context('spawn')
    with ProcessPoolExecutor(workers, mp_context=context,
                             initializer=quiet_worker) as pool:
        print(f'training the warm start ({args.warm_start_iters} iterations), '
              f'then {len(jobs)} runs, {workers} at a time; logs in {work_dir}',
              flush=True)
        warm = pool.submit(run_job, dict(
            path=WARM_START, run_dir=osp.join(work_dir, 'warm_start'),
            name='warm_start', data=data, iters=args.warm_start_iters,
            seed=args.seeds[0], settings=settings, fresh=args.fresh,
            threads=cores)).result()
        progress('warm start', warm)
        futures = {pool.submit(run_job, dict(job, load_from=warm['checkpoint'],
                                             threads=max(1, cores // workers))):
                   name for name, job in jobs.items()}
        results = {}
        for future in as_completed(futures):
            seed, key = futures[future]
            results[seed, key] = future.result()
            progress(f'seed {seed}, {FINE_TUNING[key][0]}', results[seed, key])
    return warm, {key: [results[seed, key] for seed in args.seeds]
                  for key in FINE_TUNING}


def summary(runs: List[dict]) -> dict:
    """Mean, standard deviation (0 for one run) and values of the mIoU over
    ``runs``, the per-class IoU means and the mean wall time."""
    values = [run['mIoU'] for run in runs]
    classes = runs[0]['class_iou']
    return dict(
        mIoU=statistics.fmean(values),
        sd=statistics.stdev(values) if len(values) > 1 else 0.0,
        values=values,
        class_iou={c: statistics.fmean(run['class_iou'][c] for run in runs)
                   for c in classes},
        wall_s=statistics.fmean(run['wall_s'] for run in runs),
        reused=sum(run['reused'] for run in runs))


def results_table(warm: dict, runs: Dict[str, List[dict]], warm_iters: int,
                  iters: int) -> List[str]:
    """The markdown table of the warm start and each way of continuing."""
    classes = list(warm['class_iou'])
    models = [(f'warm start: supervised-only, {warm_iters} it', summary([warm]))]
    models += [(f'+ {iters} it {FINE_TUNING[key][0]}', summary(method_runs))
               for key, method_runs in runs.items()]
    rows = []
    for name, stats in models:
        miou = number(stats['mIoU'])
        if len(stats['values']) > 1:
            miou += f' ± {number(stats["sd"])}'
        reused = ' (reused)' if stats['reused'] else ''
        rows.append([name, miou, ' / '.join(number(v) for v in stats['values']),
                     *(number(stats['class_iou'][c]) for c in classes),
                     f'{stats["wall_s"]:.0f} s{reused}'])
    return markdown_table(['model', 'mIoU', 'mIoU per seed', *classes, 'wall time'],
                          rows).splitlines()


def differences(runs: Dict[str, List[dict]]) -> List[str]:
    """Per seed, each semi-supervised run's mIoU minus the supervised-only
    one's (both continue from the same checkpoint with the same seed)."""
    baseline = [run['mIoU'] for run in runs[BASELINE]]
    lines = []
    for key, method_runs in runs.items():
        if key == BASELINE:
            continue
        deltas = [run['mIoU'] - base for run, base in zip(method_runs, baseline)]
        lines.append(f'{FINE_TUNING[key][0]} - supervised-only, per seed: '
                     + ' / '.join(f'{delta:+.2f}' for delta in deltas)
                     + f' (mean {statistics.fmean(deltas):+.2f})')
    return lines


def curves_figure(warm: dict, runs: Dict[str, List[dict]],
                  warm_iters: int) -> Figure:
    """From mmengine's ``vis_data/scalars.json`` logs: the supervised loss of
    every run, unweighted (SemiSegmentor logs it times ``sup_weight``), the
    continuing runs after the warm start's iterations; the share of
    unlabeled pixels that UniMatch and CSL select, and how many of those
    pseudo-labels are right. One line per run with a marker at every logged
    point, so that a run with a single point still shows."""
    fig = Figure(figsize=(15, 4), layout='tight')
    axes = fig.subplots(1, 3)
    panels = [('cross-entropy on the labeled batch', ('decode.loss_ce',
                                                      'sup.decode.loss_ce')),
              ('selected / valid unlabeled pixels', ('csl/selected_ratio', )),
              ('pseudo-label accuracy on selected pixels', ('csl/selected_acc', ))]
    curves = [('warm start', 'black', 0, [warm])]
    curves += [(name, colour, warm_iters, runs[key])
               for key, (name, _, colour) in FINE_TUNING.items()]
    for axis, (title, keys) in zip(axes, panels):
        for name, colour, offset, method_runs in curves:
            for index, run in enumerate(method_runs):
                scale = run['sup_weight'] if axis is axes[0] else 1.0
                points = [(record['step'] + offset, record[key] / scale)
                          for record in read_log_scalars(run['log_dir'])
                          for key in keys if key in record]
                if points:
                    axis.plot(*zip(*points), color=colour, marker='o',
                              markersize=3, linewidth=1, alpha=0.8,
                              label=name if index == 0 else None)
        axis.set(title=title, xlabel='iteration')
        if axis.has_data():
            axis.legend(fontsize='small')
    axes[1].set_ylim(0, 1)
    return fig


def copy_selection_plots(runs: Dict[str, List[dict]], iters: int,
                         work_dir: str) -> List[str]:
    """The last selection scatter plot (CSLSelectorHook) of the first seed's
    run of each semi-supervised method, as ``selection_<method>.png``."""
    copies = []
    for key, method_runs in runs.items():
        plot = osp.join(method_runs[0]['log_dir'], 'vis_data', 'vis_image',
                        f'csl_selection_{iters}.png')
        if osp.exists(plot):
            copies.append(osp.join(work_dir, f'selection_{key}.png'))
            shutil.copyfile(plot, copies[-1])
    return copies


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    work_dir = osp.abspath(args.work_dir)
    data = prepare_data(osp.join(work_dir, 'shapes'), args.num_labeled,
                        args.num_unlabeled, args.num_val, args.data_seed)
    settings = dict(data=data, code=code_digest())
    warm, runs = train_all(args, work_dir, data, settings)
    curves = osp.join(work_dir, 'curves.png')
    curves_figure(warm, runs, args.warm_start_iters).savefig(curves, dpi=100)
    selection = copy_selection_plots(
        {key: runs[key] for key in FINE_TUNING if key != BASELINE}, args.iters,
        work_dir)
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(dict(settings=dict(vars(args), data=data), warm_start=warm,
                       runs=runs), f, indent=1)
    reused = sum(run['reused'] for run in [warm, *sum(runs.values(), [])])
    seeds = ', '.join(map(str, args.seeds))
    print(f'\nDemo: synthetic shapes, {args.num_labeled} labeled + '
          f'{args.num_unlabeled} unlabeled training images, {args.num_val} '
          f'validation images (IoU in %).\nWarm start: supervised-only, '
          f'{args.warm_start_iters} iterations from scratch (seed {args.seeds[0]}). '
          f'Then {args.iters} iterations from its weights (lr {args.lr:g}) three ways, '
          f'seeds {seeds}: mIoU mean ± standard deviation over the seeds, per-class '
          'IoU means.\n')
    print('\n'.join(results_table(warm, runs, args.warm_start_iters, args.iters)))
    print('\n' + '\n'.join(differences(runs)))
    print(f'\nwall time: training and scoring of one run (mean over seeds); the '
          f'whole demo took {time.perf_counter() - start:.0f} s'
          + (f', {reused} runs reused from an earlier invocation (--fresh '
             'retrains them)' if reused else '') + '.')
    print(f'\ntraining curves:  {curves}')
    print('selection plots:  ' + ('\n                  '.join(selection) or 'none'))
    print(f'logs, checkpoints: {work_dir}/{{warm_start,seed<N>/<method>}}/')
    print(f'results:          {osp.join(work_dir, "results.json")}')


if __name__ == '__main__':
    main()
