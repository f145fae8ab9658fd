"""Check a config on this machine before a cluster submission.

    python tools/dry_run.py CONFIG [--iters N] [--work-dir DIR] [--shrink]
                            [--cfg-options key=value ...]

CONFIG is a file or an installed package's config (``mmseg::fcn/...py``),
with or without a ``semi`` key (``mmseg_csl.engine.expand_semi_config``).
The config's model, pipelines, samplers, hooks and schedule are kept; its
datasets are replaced by generated images of its crop size and classes (in a
temporary folder), pretrained weights are not loaded, SyncBN runs as BN. It
trains N iterations (default 2), validates once and prints the losses of the
last iteration, the validation metrics and the wall time. ``--shrink`` scales
crops larger than 256 px and caps batches (see
``mmseg_csl.engine.dry_run.shrink_config``). Logs and the checkpoint go to
``--work-dir``, else to a temporary folder that is deleted.
"""
import argparse
import os.path as osp
import sys
import tempfile
import traceback

from mmengine.config import DictAction

# Importing mmseg_csl registers its components and `mmseg_csl::` paths.
from mmseg_csl.engine import dry_run, load_config, prepare_dry_run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file, or package::path')
    parser.add_argument('--iters', type=int, default=2,
                        help='training iterations before the validation')
    parser.add_argument('--work-dir', help='keep logs and checkpoint here')
    parser.add_argument('--shrink', action='store_true',
                        help='scale crops down to 256 px and cap batch sizes')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value (see tools/train.py)')
    args = parser.parse_args()
    if args.iters < 1:
        parser.error('--iters must be at least 1')
    return args


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix='dry_run_') as tmp_dir:
        try:
            cfg = load_config(args.config)
            if args.cfg_options is not None:
                cfg.merge_from_dict(args.cfg_options)
            cfg.work_dir = args.work_dir or osp.join(tmp_dir, 'work_dir')
            height, width = prepare_dry_run(cfg, osp.join(tmp_dir, 'data'),
                                            iters=args.iters, shrink=args.shrink)
            report = dry_run(cfg)
        except Exception as error:
            traceback.print_exc()
            sys.exit(f'\nDry run of {args.config} FAILED: '
                     f'{type(error).__name__}: {error}')
    print(f'\nDry run of {args.config}: OK')
    print(f'data: generated {height}x{width} images')
    print(report)
    if args.work_dir:
        print(f'logs and checkpoint: {args.work_dir}')


if __name__ == '__main__':
    main()
