"""Distributed runs of mmengine's Runner on machines without a GPU.

mmengine 0.10 starts every launcher with ``torch.cuda.set_device`` (which fails
without CUDA, whatever ``env_cfg.dist_cfg.backend`` says) and wraps the model
in ``DistributedDataParallel(device_ids=[LOCAL_RANK])``, which PyTorch refuses
for a CPU model. The tools call :func:`setup_cpu_distributed` instead when a
launcher is given and ``torch.cuda.is_available()`` is False.
"""
import datetime
import gc
import os
import subprocess
from typing import Any, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmseg.registry import MODEL_WRAPPERS

from ..utils import config_dicts

CPU_LAUNCHERS = ('pytorch', 'slurm')


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Start the gloo process group and adapt ``cfg`` for a CPU-only run.

    - ``env_cfg.dist_cfg.backend`` becomes ``'gloo'`` and the process group
      is started here (the Runner then skips its own start), with
      ``env_cfg.dist_cfg.timeout`` (seconds) as its collective timeout;
    - the DDP model wrapper gets ``device_ids=None``;
    - ``SyncBN`` in ``cfg.model`` becomes ``BN`` and ``cfg.sync_bn`` is
      dropped, since SyncBN runs on GPUs only: each process normalises with
      its own batch statistics.

    Args:
        cfg: The full config, changed in place; call before building the Runner.
        launcher: ``'pytorch'`` (torchrun's environment variables) or
            ``'slurm'`` (srun's, as mmengine's slurm launcher reads them).
    """
    if launcher not in CPU_LAUNCHERS:
        raise ValueError(f'launcher={launcher!r} needs a GPU; without one, '
                         f'use one of {CPU_LAUNCHERS}.')
    cfg.merge_from_dict({'env_cfg.dist_cfg.backend': 'gloo'})
    dist_cfg = cfg.env_cfg.dist_cfg
    if launcher == 'slurm':
        export_slurm_env(dist_cfg.get('port'))
    timeout = dist_cfg.get('timeout')
    kwargs = {} if timeout is None else {'timeout': datetime.timedelta(seconds=timeout)}
    torch_dist.init_process_group(backend='gloo', **kwargs)

    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    replace_sync_bn(cfg.model)
    cfg.sync_bn = None
    print_log(
        f'No GPU: distributed run on CPU (gloo), rank {torch_dist.get_rank()} of '
        f'{torch_dist.get_world_size()}; SyncBN layers, if any, run as BN.',
        logger='current')


def export_slurm_env(port: Optional[int] = None) -> None:
    """Set the variables of torch.distributed's ``env://`` start from those of
    a SLURM task, as mmengine's slurm launcher does: ``MASTER_ADDR`` (the first
    host of ``SLURM_NODELIST``, unless set), ``MASTER_PORT`` (``port``, else
    the environment's, else 29500), ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``.
    """
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def cpu_model_wrapper_cfg(cfg: Config) -> dict:
    """``cfg.model_wrapper_cfg`` (by default what the Runner builds without
    one: ``MMDistributedDataParallel``) with ``device_ids=None`` for a
    ``DistributedDataParallel`` wrapper, the value PyTorch needs for a CPU model.
    """
    wrapper = cfg.get('model_wrapper_cfg') or {
        'type': 'MMDistributedDataParallel',
        'broadcast_buffers': False,
        'find_unused_parameters': cfg.get('find_unused_parameters', False)}
    wrapper = dict(wrapper)
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = wrapper['type']
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if issubclass(wrapper_type, torch.nn.parallel.DistributedDataParallel):
        wrapper['device_ids'] = None
    return wrapper


def replace_sync_bn(node: Any) -> None:
    """Turn every ``dict(type='SyncBN', ...)`` nested in ``node`` into ``BN``."""
    for config in config_dicts(node):
        if config.get('type') == 'SyncBN':
            config['type'] = 'BN'


def close_distributed() -> None:
    """Tear down the process group at the end of a tool's run, if there is one.

    mmengine leaves the group open, and destroying it at interpreter exit can abort
    a gloo process ("terminate called without an active exception", seen on CPU
    runs). Here the objects that still hold the group (the DDP wrapper of a
    finished Runner) are collected first, and every rank waits for the others
    before its group goes away, so no rank closes its connections while a peer is
    still using them.
    """
    if not torch_dist.is_initialized():
        return
    gc.collect()
    torch_dist.barrier()
    torch_dist.destroy_process_group()
