"""A complete tiny mmseg experiment and helpers to run the scripts of ``tools/``.

For tests of checkpointing and of the command-line tools::

    cfg = tiny_experiment_config(tmp_path / 'data')      # a config dict
    config = dump_config(cfg, tmp_path / 'tiny.py')       # a file for the tools
    result = run_tool(['train.py', config, '--work-dir', tmp_path / 'w'])

Any config file can take the place of the tiny one: the helpers only need a
path (``with_recorded_samples`` adds a hook to whatever config it gets).
"""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Dict, List, Optional, Union

import torch.nn as nn
from mmengine.config import Config

from tests.data_utils import make_tiny_seg_dataset
from tests.semi_utils import tiny_segmentor_cfg

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLS = REPO_ROOT / 'tools'
# What a launcher sets; a test process must not hand its own down.
LAUNCHER_VARIABLES = ('MASTER_ADDR', 'MASTER_PORT', 'RANK', 'WORLD_SIZE',
                      'LOCAL_RANK', 'LOCAL_WORLD_SIZE')


def tiny_experiment_config(data_root: Union[str, Path],
                           max_iters: int = 2,
                           batch_size: int = 2) -> dict:
    """An mmseg config dict that trains the model of ``tiny_segmentor_cfg``
    for ``max_iters`` iterations on 8 generated 32x32 images (written under
    ``data_root``), then validates on 4 others and saves ``iter_<max_iters>.pth``.
    """
    train_data = make_tiny_seg_dataset(Path(data_root, 'train'), num_images=8,
                                       size=(32, 32), seed=0)
    val_data = make_tiny_seg_dataset(Path(data_root, 'val'), num_images=4,
                                     size=(32, 32), seed=1)
    model = tiny_segmentor_cfg().to_dict()
    model['data_preprocessor'] = {
        'type': 'SegDataPreProcessor',
        'mean': [123.675, 116.28, 103.53],
        'std': [58.395, 57.12, 57.375],
        'bgr_to_rgb': True,
        'pad_val': 0,
        'seg_pad_val': 255,
        'size': (32, 32),
    }
    train_pipeline = [
        {'type': 'LoadImageFromFile'},
        {'type': 'LoadAnnotations'},
        {'type': 'RandomFlip', 'prob': 0.5},
        {'type': 'PackSegInputs'},
    ]
    test_pipeline = [
        {'type': 'LoadImageFromFile'},
        {'type': 'LoadAnnotations'},
        {'type': 'PackSegInputs'},
    ]
    test_dataloader = {
        'batch_size': 1,
        'num_workers': 0,
        'sampler': {'type': 'DefaultSampler', 'shuffle': False},
        'dataset': {'type': 'BaseSegDataset', **val_data, 'pipeline': test_pipeline},
    }
    evaluator = {'type': 'IoUMetric', 'iou_metrics': ['mIoU']}
    return {
        'default_scope': 'mmseg',
        'custom_imports': {'imports': ['mmseg_csl'], 'allow_failed_imports': False},
        'model': model,
        'train_dataloader': {
            'batch_size': batch_size,
            'num_workers': 0,
            'sampler': {'type': 'InfiniteSampler', 'shuffle': True},
            'dataset': {
                'type': 'BaseSegDataset', **train_data, 'pipeline': train_pipeline},
        },
        'val_dataloader': test_dataloader,
        'test_dataloader': test_dataloader,
        'val_evaluator': evaluator,
        'test_evaluator': evaluator,
        'optim_wrapper': {
            'type': 'OptimWrapper',
            'optimizer': {
                'type': 'SGD', 'lr': 0.01, 'momentum': 0.9, 'weight_decay': 5e-4},
        },
        'param_scheduler': [{
            'type': 'PolyLR',
            'eta_min': 1e-4,
            'power': 0.9,
            'begin': 0,
            'end': max_iters,
            'by_epoch': False,
        }],
        'train_cfg': {
            'type': 'IterBasedTrainLoop',
            'max_iters': max_iters,
            'val_interval': max_iters,
        },
        'val_cfg': {'type': 'ValLoop'},
        'test_cfg': {'type': 'TestLoop'},
        'default_hooks': {
            'timer': {'type': 'IterTimerHook'},
            'logger': {
                'type': 'LoggerHook', 'interval': 1, 'log_metric_by_epoch': False},
            'param_scheduler': {'type': 'ParamSchedulerHook'},
            'checkpoint': {
                'type': 'CheckpointHook', 'by_epoch': False, 'interval': max_iters},
            'sampler_seed': {'type': 'DistSamplerSeedHook'},
            'visualization': {'type': 'SegVisualizationHook'},
        },
        'env_cfg': {
            'cudnn_benchmark': False,
            'mp_cfg': {'mp_start_method': 'fork', 'opencv_num_threads': 0},
            'dist_cfg': {'backend': 'nccl'},
        },
        # Unnamed, the visualizer takes the experiment's name: runners of
        # different experiments in one process do not share it.
        'visualizer': {
            'type': 'SegLocalVisualizer',
            'vis_backends': [{'type': 'LocalVisBackend'}],
        },
        'log_processor': {'by_epoch': False},
        'log_level': 'INFO',
        'load_from': None,
        'resume': False,
        'randomness': {'seed': 0},
    }


def tiny_semi_experiment_config(data_root: Union[str, Path],
                                max_iters: int = 2,
                                num_labeled: int = 4,
                                num_unlabeled: int = 8) -> dict:
    """:func:`tiny_experiment_config` turned semi-supervised: a ``SemiSegmentor``
    around the same model, trained on batches of 1 labeled and 2 unlabeled
    32x32 images (``MultiSourceSampler``) from ``num_labeled`` labeled and
    ``num_unlabeled`` unlabeled generated images (``data_root/labeled``,
    ``data_root/unlabeled``, the latter without label files), with the branch
    pipelines of ``configs/_base_/semi/views.py``, ``ClassCountCheckHook`` and
    ``IterationSeedHook``; validation as in the plain experiment.
    """
    cfg = tiny_experiment_config(data_root, max_iters=max_iters)
    views = Config.fromfile(str(REPO_ROOT / 'configs' / '_base_' / 'semi' / 'views.py'))
    geometric = [
        {'type': 'RandomResize', 'scale': (32, 32), 'ratio_range': (0.75, 1.5),
         'keep_ratio': True},
        {'type': 'RandomCrop', 'crop_size': (32, 32), 'cat_max_ratio': 1.0},
        {'type': 'RandomFlip', 'prob': 0.5},
    ]
    labeled = make_tiny_seg_dataset(Path(data_root, 'labeled'),
                                    num_images=num_labeled, size=(32, 32), seed=2)
    unlabeled = make_tiny_seg_dataset(Path(data_root, 'unlabeled'),
                                      num_images=num_unlabeled, size=(32, 32),
                                      with_labels=False, seed=3)
    labeled_pipeline = [{'type': 'LoadImageFromFile'}, {'type': 'LoadAnnotations'},
                        *geometric, views.labeled_branches.to_dict()]
    unlabeled_pipeline = [{'type': 'LoadImageFromFile'}, *geometric,
                          views.unlabeled_branches.to_dict()]
    cfg['model'] = {
        'type': 'SemiSegmentor',
        'segmentor': tiny_segmentor_cfg().to_dict(),
        'data_preprocessor': {
            'type': 'MultiBranchDataPreProcessor',
            'data_preprocessor': cfg['model']['data_preprocessor'],
        },
        'semi_train_cfg': {'masking': {'block_size': 8}},
    }
    cfg['train_dataloader'] = {
        'batch_size': 3,
        'num_workers': 0,
        'sampler': {'type': 'MultiSourceSampler', 'batch_size': 3,
                    'source_ratio': [1, 2]},
        'dataset': {
            'type': 'ConcatDataset',
            'datasets': [
                {'type': 'BaseSegDataset', **labeled, 'pipeline': labeled_pipeline},
                {'type': 'BaseSegDataset', **unlabeled,
                 'pipeline': unlabeled_pipeline},
            ],
        },
    }
    cfg['custom_hooks'] = [{'type': 'ClassCountCheckHook'},
                           {'type': 'IterationSeedHook'}]
    return cfg


def dump_config(cfg: Union[dict, Config], path: Union[str, Path]) -> str:
    """Write ``cfg`` as a config file; returns its path."""
    cfg = cfg if isinstance(cfg, Config) else Config(cfg)
    cfg.dump(str(path))
    return str(path)


def with_recorded_samples(config: Union[str, Path], path: Union[str, Path]) -> str:
    """Write ``config`` plus ``RecordSamplesHook`` (``tests.record_samples_hook``,
    which writes ``<work_dir>/samples_rank<r>.json``) to ``path``."""
    cfg = Config.fromfile(str(config))
    imports = list(cfg.get('custom_imports', {}).get('imports', []))
    cfg.custom_imports = {
        'imports': [*imports, 'tests.record_samples_hook'],
        'allow_failed_imports': False,
    }
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), {'type': 'RecordSamplesHook'}]
    return dump_config(cfg, path)


def load_tool(name: str):
    """The module of ``tools/<name>.py`` (``name`` may hold a subfolder),
    imported from its file (``tools`` is no package)."""
    spec = importlib.util.spec_from_file_location(Path(name).name,
                                                  TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomize_batch_norms(network) -> None:
    """Non-trivial affine weights and running statistics in every BatchNorm2d
    of ``network``, so that a converted copy shows whether each reached its
    place."""
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, std=0.1)
            module.running_mean.normal_(std=0.1)
            module.running_var.uniform_(0.5, 1.5)


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def last_validation(work_dir: Union[str, Path]) -> dict:
    """Metrics of the last validation of the training run in ``work_dir``."""
    [scalars] = Path(work_dir).glob('*/vis_data/scalars.json')
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [record for record in records if 'mIoU' in record][-1]


def training_records(work_dir: Union[str, Path]) -> List[dict]:
    """The logged training iterations (``iter``, ``lr``, ``loss``, ...) of the
    training run in ``work_dir``."""
    [scalars] = Path(work_dir).glob('*/vis_data/scalars.json')
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [record for record in records if 'loss' in record]


def evaluation_metrics(work_dir: Union[str, Path]) -> dict:
    """The metrics that ``tools/test.py --work-dir work_dir`` wrote."""
    [path] = Path(work_dir).glob('*/*.json')
    return json.loads(path.read_text())


def start_tool(command: List[str],
               env: Optional[Dict[str, str]] = None,
               output: Union[int, IO] = subprocess.PIPE) -> subprocess.Popen:
    """Start ``tools/<command[0]>`` with the arguments ``command[1:]`` from
    the repository root, in a session of its own, writing stdout and stderr
    to ``output`` (a pipe or a file); the environment is :func:`run_tool`'s."""
    script = str(TOOLS / command[0])
    argv = [sys.executable, script] if script.endswith('.py') else [script]
    argv += [str(arg) for arg in command[1:]]
    full_env = {
        key: value for key, value in os.environ.items()
        if key not in LAUNCHER_VARIABLES and not key.startswith('SLURM_')
    }
    full_env.update(env or {})
    full_env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), full_env['PATH']]),
        PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [full_env.get('PYTHONPATH')])]),
        OMP_NUM_THREADS='1')
    # A session of its own, so that a hung run is stopped with all its
    # processes (torchrun and srun start more).
    return subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=full_env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True)


def run_tool(command: List[str],
             env: Optional[Dict[str, str]] = None,
             check: bool = True,
             timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``tools/<command[0]>`` with the arguments ``command[1:]`` from the
    repository root; its output (stdout and stderr) is in ``.stdout``. With
    ``check``, a non-zero exit fails the test with the output's tail.

    Its environment: this one plus ``env``, without launcher variables; this
    interpreter's folder first on ``PATH`` (it is ``python``), the repository
    root on ``PYTHONPATH`` (configs may import ``tests.*``), one OpenMP thread
    per process. A run over ``timeout`` seconds is killed with its children.
    """
    process = start_tool(command, env)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(
            f'{command[0]} ran over {timeout} s:\n{output[-6000:]}') from None
    if check:
        assert process.returncode == 0, (
            f'{command[0]} exited with {process.returncode}:\n{output[-6000:]}')
    return subprocess.CompletedProcess(process.args, process.returncode, output)
