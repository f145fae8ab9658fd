import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseg_csl  # noqa: F401
from mmseg_csl.engine import precision as precision_module
from mmseg_csl.engine import prepare_dry_run
from mmseg_csl.engine.precision import (
    check_precision_supported,
    set_precision,
    training_precision,
)
from tests.tool_utils import load_tool, tiny_experiment_config

SGD = dict(type='SGD', lr=0.01, momentum=0.9)


def config(**optim_wrapper):
    return Config(dict(optim_wrapper=dict(optimizer=SGD, **optim_wrapper)))


@pytest.mark.parametrize('precision, expected', [
    ('float32', dict(type='OptimWrapper')),
    ('bfloat16', dict(type='AmpOptimWrapper', dtype='bfloat16', loss_scale=1.0)),
    ('float16', dict(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')),
])
@pytest.mark.parametrize('start', [
    dict(type='OptimWrapper'),
    dict(type='AmpOptimWrapper', dtype='float16', loss_scale=512.0),
    dict(),
])
def test_set_precision_keeps_the_optimizer(start, precision, expected):
    cfg = config(paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}), **start)
    set_precision(cfg, precision)
    assert cfg.optim_wrapper.to_dict() == dict(
        expected, optimizer=SGD,
        paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
    assert training_precision(cfg) == precision


def test_set_precision_refuses_unknown_wrappers_and_precisions():
    with pytest.raises(ValueError, match='float64'):
        set_precision(config(), 'float64')
    with pytest.raises(ValueError, match='MyWrapper'):
        set_precision(config(type='MyWrapper'), 'float32')


def test_training_precision_of_mmengine_defaults():
    assert training_precision(config()) == 'float32'
    # AmpOptimWrapper without dtype autocasts to float16 on CUDA
    assert training_precision(config(type='AmpOptimWrapper')) == 'float16'


@pytest.mark.parametrize('start, amp, amp_dtype, expected', [
    (dict(), True, None, 'bfloat16'),  # --amp: bfloat16
    (dict(), True, 'float16', 'float16'),
    (dict(), False, 'bfloat16', 'bfloat16'),  # --amp-dtype alone implies --amp
    (dict(), False, None, 'float32'),
    # a config in bfloat16, as the paper configs
    (dict(type='AmpOptimWrapper', dtype='bfloat16'), True, None, 'bfloat16'),
    (dict(type='AmpOptimWrapper', dtype='bfloat16'), False, None, 'bfloat16'),
    (dict(type='AmpOptimWrapper', dtype='bfloat16'), False, 'float32', 'float32'),
    (dict(type='AmpOptimWrapper', dtype='bfloat16'), False, 'float16', 'float16'),
])
def test_train_tool_precision_arguments(start, amp, amp_dtype, expected):
    cfg = config(**start)
    load_tool('train').configure_precision(cfg, amp, amp_dtype)
    assert training_precision(cfg) == expected


def test_train_tool_refuses_amp_in_float32():
    with pytest.raises(ValueError, match='--amp-dtype'):
        load_tool('train').configure_precision(config(), True, 'float32')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the no-GPU case')
def test_dry_run_trains_mixed_precision_configs_in_float32_without_gpu(tmp_path):
    init_default_scope('mmseg')

    def tiny_config():
        cfg = Config(dict(tiny_experiment_config(tmp_path / 'data'), crop_size=32))
        set_precision(cfg, 'bfloat16')
        return cfg

    cfg = tiny_config()
    prepare_dry_run(cfg, str(tmp_path / 'dry_run'), iters=1)
    assert training_precision(cfg) == 'float32'
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    # a precision asked for is kept (as benchmarks/gpu/check.py asks on a GPU)
    cfg = tiny_config()
    prepare_dry_run(cfg, str(tmp_path / 'dry_run'), iters=1, precision='float16')
    assert training_precision(cfg) == 'float16'


@pytest.mark.parametrize('precision', ['bfloat16', 'float16'])
def test_mixed_precision_without_gpu_is_refused_before_training(monkeypatch,
                                                                precision):
    for name in ('is_cuda_available', 'is_npu_available', 'is_mlu_available',
                 'is_musa_available'):
        monkeypatch.setattr(precision_module, name, lambda: False)
    cfg = config()
    set_precision(cfg, precision)
    with pytest.raises(RuntimeError, match=f'^{precision} mixed precision '
                       r'\(AmpOptimWrapper.*needs a GPU.*--amp-dtype float32'):
        check_precision_supported(cfg)
    set_precision(cfg, 'float32')
    check_precision_supported(cfg)
    monkeypatch.setattr(precision_module, 'is_cuda_available', lambda: True)
    set_precision(cfg, precision)
    check_precision_supported(cfg)
