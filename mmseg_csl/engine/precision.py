"""The precision a config trains in: float32, or mixed with bfloat16 or float16.

Mixed precision is mmengine's ``AmpOptimWrapper``: the forward runs under
``torch.autocast`` with the wrapper's ``dtype``, the backward through its
gradient scaler. bfloat16 has float32's exponent range, so it trains with a
constant loss scale of 1 (the scaler then only skips steps whose gradients are
not finite); float16 needs mmengine's dynamic loss scale. The paper configs
(``configs/_base_/schedules/sgd_poly.py``) train in bfloat16, as both released
versions of CSL do; ``tools/train.py --amp-dtype`` and :func:`set_precision`
choose another.
"""
from typing import Union

from mmengine.config import Config, ConfigDict
from mmengine.device import (
    is_cuda_available,
    is_mlu_available,
    is_musa_available,
    is_npu_available,
)

FLOAT32 = 'float32'
AMP_DTYPES = ('bfloat16', 'float16')
PRECISIONS = (FLOAT32, ) + AMP_DTYPES
# What AmpOptimWrapper takes beyond OptimWrapper's arguments.
_AMP_KEYS = ('dtype', 'loss_scale', 'use_fsdp')
_WRAPPERS = ('OptimWrapper', 'AmpOptimWrapper')


def set_precision(cfg: Union[Config, ConfigDict], precision: str) -> None:
    """Make ``cfg`` train in ``precision``, in place.

    ``'float32'``: ``OptimWrapper``, without the AMP-only keys.
    ``'bfloat16'``: ``AmpOptimWrapper(dtype='bfloat16', loss_scale=1.0)``.
    ``'float16'``: ``AmpOptimWrapper(dtype='float16', loss_scale='dynamic')``.
    The optimizer, ``paramwise_cfg`` and gradient clipping are kept.

    Raises:
        ValueError: for another precision, or an ``optim_wrapper`` type other
            than mmengine's ``OptimWrapper`` and ``AmpOptimWrapper``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind not in _WRAPPERS:
        raise ValueError(f'cannot set the precision of optim_wrapper type {kind!r}; '
                         f'it must be one of {_WRAPPERS}')
    for key in _AMP_KEYS:
        wrapper.pop(key, None)
    if precision == FLOAT32:
        wrapper['type'] = 'OptimWrapper'
        return
    wrapper.update(type='AmpOptimWrapper', dtype=precision,
                   loss_scale=1.0 if precision == 'bfloat16' else 'dynamic')


def training_precision(cfg: Union[Config, ConfigDict]) -> str:
    """The precision ``cfg`` trains in: ``'float32'`` without
    ``AmpOptimWrapper``, else its ``dtype`` (mmengine's default on CUDA,
    ``'float16'``, when it names none)."""
    wrapper = cfg.get('optim_wrapper') or {}
    if wrapper.get('type', 'OptimWrapper') != 'AmpOptimWrapper':
        return FLOAT32
    dtype = wrapper.get('dtype') or 'float16'
    return str(dtype).replace('torch.', '')


def check_precision_supported(cfg: Union[Config, ConfigDict]) -> None:
    """Refuse mixed precision on a machine without the devices mmengine's
    ``AmpOptimWrapper`` runs on (CUDA, NPU, MLU, MUSA), before anything is
    built: mmengine fails there with an assertion about its wrapper.

    Raises:
        RuntimeError: naming the precision and the ways out
            (``--amp-dtype float32``, a GPU).
    """
    precision = training_precision(cfg)
    if precision == FLOAT32 or is_cuda_available() or is_npu_available() \
            or is_mlu_available() or is_musa_available():
        return
    raise RuntimeError(
        f'{precision} mixed precision (AmpOptimWrapper, asked for by --amp, '
        "--amp-dtype or the config's optim_wrapper) needs a GPU, and this "
        'machine has none (torch.cuda.is_available() is False): train in '
        'float32 with --amp-dtype float32, or on a GPU.')
