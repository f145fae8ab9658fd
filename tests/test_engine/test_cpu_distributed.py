import os

import pytest
import torch
from mmengine.config import Config

from mmseg_csl.engine import setup_cpu_distributed
from mmseg_csl.engine.cpu_distributed import (
    cpu_model_wrapper_cfg,
    export_slurm_env,
    replace_sync_bn,
)


def test_refuses_launchers_that_need_a_gpu():
    with pytest.raises(ValueError, match="'mpi'"):
        setup_cpu_distributed(Config({'model': {}}), 'mpi')


def test_default_wrapper_is_runners_ddp_on_cpu():
    wrapper = cpu_model_wrapper_cfg(Config({'find_unused_parameters': True}))
    assert wrapper == {
        'type': 'MMDistributedDataParallel',
        'broadcast_buffers': False,
        'find_unused_parameters': True,
        'device_ids': None,
    }


def test_configured_ddp_wrapper_keeps_its_options():
    cfg = Config({'model_wrapper_cfg': {'type': 'MMDistributedDataParallel',
                                        'static_graph': True}})
    wrapper = cpu_model_wrapper_cfg(cfg)
    assert wrapper == {'type': 'MMDistributedDataParallel', 'static_graph': True,
                       'device_ids': None}


def test_ddp_subclass_given_as_name_gets_device_ids_none():
    cfg = Config({'model_wrapper_cfg': {'type': 'MMSeparateDistributedDataParallel'}})
    assert cpu_model_wrapper_cfg(cfg)['device_ids'] is None


class NonDDPWrapper(torch.nn.Module):
    pass


def test_non_ddp_wrapper_gets_no_device_ids():
    # Like the Runner, which passes device_ids to DDP subclasses only.
    cfg = Config({'model_wrapper_cfg': {'type': NonDDPWrapper}})
    assert 'device_ids' not in cpu_model_wrapper_cfg(cfg)


def test_replace_sync_bn_everywhere():
    cfg = Config({'model': {
        'backbone': {'norm_cfg': {'type': 'SyncBN', 'requires_grad': True}},
        'heads': [{'norm_cfg': {'type': 'SyncBN'}}, {'norm_cfg': {'type': 'GN'}}],
    }})
    replace_sync_bn(cfg.model)
    assert cfg.model.backbone.norm_cfg == {'type': 'BN', 'requires_grad': True}
    assert [head.norm_cfg.type for head in cfg.model.heads] == ['BN', 'GN']


def test_export_slurm_env(monkeypatch):
    monkeypatch.setenv('SLURM_PROCID', '3')
    monkeypatch.setenv('SLURM_NTASKS', '4')
    monkeypatch.setenv('SLURM_LOCALID', '1')
    monkeypatch.setenv('SLURM_NODELIST', 'node[1-2]')
    monkeypatch.setenv('MASTER_ADDR', '10.0.0.1')  # kept: no scontrol call
    for name in ('MASTER_PORT', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK'):
        monkeypatch.delenv(name, raising=False)

    export_slurm_env(port=29612)
    expected = {'MASTER_ADDR': '10.0.0.1', 'MASTER_PORT': '29612',
                'WORLD_SIZE': '4', 'RANK': '3', 'LOCAL_RANK': '1'}
    assert {name: os.environ[name] for name in expected} == expected
