"""Train a segmentor: ``python tools/train.py CONFIG [options]``.

The arguments of MMSegmentation's ``tools/train.py``, plus ``--auto-scale-lr``
and ``--amp-dtype``. ``--amp`` trains in mixed precision (mmengine's
``AmpOptimWrapper``), in bfloat16 unless ``--amp-dtype float16`` says otherwise;
``--amp-dtype float32`` trains a config that asks for mixed precision (the paper
configs ask for bfloat16, as the authors trained) in float32.
``mmseg_csl`` is imported first: its components are registered, ``mmseg_csl::``
config paths resolve, the run loads checkpoints weights-only
(``SafeCheckpointLoadingHook``, added to configs without it), saves only whole
checkpoints and resumes past a truncated one (``CheckpointCheckHook``, added
likewise), and a config's ``semi`` key (unlabeled images added to a supervised
config) is expanded after ``--cfg-options``
(``mmseg_csl.engine.expand_semi_config``). With a launcher and no GPU, the run
is distributed on CPU with the gloo backend.
Before training, the launcher's environment variables and a device for mixed
precision are checked; a dataset without samples is named; a collective
operation that waits for the other ranks longer than
``env_cfg.dist_cfg.timeout`` (600 s unless the config sets it) stops the run
with the rank and the last iteration (docs/tools.md, "Checked before training
and during it").
"""
import argparse
import logging
import os
import os.path as osp
from glob import glob
from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

# Importing mmseg_csl registers its components and `mmseg_csl::` paths.
from mmseg_csl.datasets import empty_datasets_named
from mmseg_csl.engine import (
    add_checkpoint_check,
    add_safe_checkpoint_loading,
    add_seg_map_checks,
    check_launcher_env,
    close_distributed,
    collective_timeout_reported,
    expand_semi_config,
    set_default_collective_timeout,
    setup_cpu_distributed,
)
from mmseg_csl.engine.precision import (
    PRECISIONS,
    check_precision_supported,
    set_precision,
    training_precision,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training (bfloat16 unless '
        '--amp-dtype says otherwise)')
    parser.add_argument(
        '--amp-dtype',
        choices=PRECISIONS,
        help='train in this precision: bfloat16 or float16 mixed precision '
        '(implies --amp), or float32 (no mixed precision, also for configs '
        'that ask for it); default: the config\'s, bfloat16 with --amp')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by (GPUs x batch size per GPU) / '
        '`auto_scale_lr.base_batch_size` of the config')
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
    # torch.distributed.launch passes --local-rank (PyTorch >= 2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def configure_precision(cfg: Config, amp: bool, amp_dtype: Optional[str]) -> None:
    """Apply ``--amp`` and ``--amp-dtype`` to ``cfg`` (see the module docstring)."""
    if amp_dtype is None and amp:
        if training_precision(cfg) != 'float32':
            print_log('AMP training is already enabled in your config '
                      f'({training_precision(cfg)}).',
                      logger='current', level=logging.WARNING)
            return
        amp_dtype = 'bfloat16'
    elif amp and amp_dtype == 'float32':
        raise ValueError('--amp asks for mixed precision but --amp-dtype '
                         'float32 for none; give one of them')
    if amp_dtype is not None:
        set_precision(cfg, amp_dtype)


def enable_auto_scale_lr(cfg: Config) -> None:
    """Turn on mmengine's linear learning-rate scaling (``auto_scale_lr``)."""
    auto_scale_lr = cfg.get('auto_scale_lr') or {}
    if 'base_batch_size' not in auto_scale_lr:
        raise ValueError(
            '--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=N)` in '
            'the config: the total batch size (all GPUs) its learning rate is '
            f'tuned for; got auto_scale_lr={cfg.get("auto_scale_lr")}.')
    cfg.auto_scale_lr = dict(auto_scale_lr, enable=True)


def report_resume_from_scratch(cfg: Config) -> None:
    """Say that ``--resume`` starts from scratch in a work directory without
    a ``last_checkpoint`` record (mmengine logs "resumed from the latest
    checkpoint None" and trains from iteration 0)."""
    if not cfg.resume or cfg.get('load_from') is not None or \
            osp.isfile(osp.join(cfg.work_dir, 'last_checkpoint')):
        return
    message = (f'--resume: the work directory {cfg.work_dir} has no checkpoint '
               'record (last_checkpoint), so training starts from scratch, at '
               'iteration 0.')
    files = sorted(osp.basename(path)
                   for path in glob(osp.join(cfg.work_dir, '*.pth')))
    if files:
        message += (f' It holds {", ".join(files)}: to resume from one, add '
                    '--cfg-options load_from=<file> to --resume.')
    print_log(message, logger='current', level=logging.WARNING)


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
    configure_precision(cfg, args.amp, args.amp_dtype)
    check_precision_supported(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    cfg.resume = args.resume
    set_default_collective_timeout(cfg)
    check_launcher_env(args.launcher)
    if args.launcher != 'none' and not torch.cuda.is_available():
        setup_cpu_distributed(cfg, args.launcher)

    add_safe_checkpoint_loading(cfg)
    add_checkpoint_check(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    report_resume_from_scratch(cfg)
    with empty_datasets_named(), collective_timeout_reported(runner):
        runner.train()
    del runner
    close_distributed()


if __name__ == '__main__':
    main()
