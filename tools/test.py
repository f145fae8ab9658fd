"""Test (and evaluate) a segmentor:
``python tools/test.py CONFIG CHECKPOINT [options]``.

The arguments of MMSegmentation's ``tools/test.py``. ``mmseg_csl`` is imported
first: its components are registered, ``mmseg_csl::`` config paths resolve and
the checkpoint loads weights-only (``SafeCheckpointLoadingHook``, added to
configs without it) and strictly (``CheckpointCheckHook(strict=True)``): a
checkpoint that is truncated, or whose weights do not fit the config's model,
stops the test with the file and the weights that differ instead of scoring
initial weights; a plain segmentor's checkpoint loads into a ``SemiSegmentor``
config and a ``SemiSegmentor``'s (its student) into a plain config. A config's
``semi`` key is expanded (``mmseg_csl.engine.expand_semi_config``), so a
checkpoint of the semi-supervised run it stands for loads. With a launcher and
no GPU, the run is distributed on CPU with the gloo backend.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

# Importing mmseg_csl registers its components and `mmseg_csl::` paths.
from mmseg_csl.engine import (
    add_checkpoint_check,
    add_safe_checkpoint_loading,
    add_seg_map_checks,
    check_launcher_env,
    close_distributed,
    expand_semi_config,
    set_default_collective_timeout,
    setup_cpu_distributed,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='MMSeg test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='if specified, the evaluation metric results will be dumped '
        'into the directory as json')
    parser.add_argument(
        '--out',
        type=str,
        help='The directory to save output prediction for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    # torch.distributed.launch passes --local-rank (PyTorch >= 2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def trigger_visualization_hook(cfg: Config, args: argparse.Namespace) -> None:
    """Make the ``visualization`` default hook draw (and show or save)."""
    visualization_hook = cfg.default_hooks.get('visualization')
    if visualization_hook is None:
        raise RuntimeError(
            '--show/--show-dir need a VisualizationHook in default_hooks: '
            "visualization=dict(type='SegVisualizationHook')")
    visualization_hook['draw'] = True
    if args.show:
        visualization_hook['show'] = True
        visualization_hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def main() -> None:
    args = parse_args()

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    expand_semi_config(cfg)
    add_seg_map_checks(cfg)
    # work_dir priority: command line > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    set_default_collective_timeout(cfg)
    check_launcher_env(args.launcher)
    if args.launcher != 'none' and not torch.cuda.is_available():
        setup_cpu_distributed(cfg, args.launcher)

    add_safe_checkpoint_loading(cfg)
    add_checkpoint_check(cfg, strict=True)
    runner = Runner.from_cfg(cfg)
    runner.test()
    del runner
    close_distributed()


if __name__ == '__main__':
    main()
