from collections import defaultdict
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

_STAT_NAMES = ('running_mean', 'running_var', 'num_batches_tracked')

# Forwards that, in train mode with ``track_running_stats=False``, normalise
# with the batch statistics exactly as they do with it True, and neither read
# nor write a running statistic (PyTorch's batch norms, synchronised or not).
_UNTRACKABLE_FORWARDS = (_BatchNorm.forward, nn.SyncBatchNorm.forward)


def _norm_layers(module: nn.Module) -> List[nn.Module]:
    """The submodules of ``module`` that hold a running mean and variance."""
    # ``_buffers`` directly: named_buffers() builds a generator and a memo
    # set per module, which costs milliseconds on a ResNet-101 each step.
    return [sub for sub in module.modules()
            if sub._buffers.get('running_mean') is not None
            and sub._buffers.get('running_var') is not None]


def _stat_slots(layers: List[nn.Module]) -> List[Tuple[Dict[str, Tensor], str]]:
    """(buffer dict, name) of each running statistic of ``layers``."""
    return [(layer._buffers, name) for layer in layers for name in _STAT_NAMES
            if layer._buffers.get(name) is not None]


def running_stat_buffers(module: nn.Module) -> List[Tensor]:
    """The running statistics of every normalisation layer in ``module``: the
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` buffers of each
    submodule that has the first two (PyTorch's and mmcv's batch norms,
    synchronised or not)."""
    return [buffers[name] for buffers, name in _stat_slots(_norm_layers(module))]


def _copies(tensors: List[Tensor]) -> List[Tensor]:
    """Copies of ``tensors``, by one foreach operation per dtype (a foreach over
    mixed dtypes runs tensor by tensor)."""
    groups: Dict[torch.dtype, List[int]] = defaultdict(list)
    for index, tensor in enumerate(tensors):
        groups[tensor.dtype].append(index)
    copies: List[Optional[Tensor]] = [None] * len(tensors)
    for indices in groups.values():
        for index, copy in zip(indices,
                               torch._foreach_mul([tensors[i] for i in indices], 1)):
            copies[index] = copy
    return copies


@contextmanager
def running_stats_kept(module: nn.Module, keep: bool = True) -> Iterator[None]:
    """Forward ``module`` in train mode (batch statistics) without changing the
    running statistics of its normalisation layers.

    Inside, the forwards normalise with their own batch statistics but leave
    no trace in the statistics used at evaluation, as in both released
    versions of CSL (docs/method.md, section 5, "BatchNorm running
    statistics"). PyTorch's batch norms stop tracking their statistics for the
    while (``track_running_stats=False``: the same output, and no update or
    ``num_batches_tracked`` increment to launch); any other layer with a
    running mean and variance gets copies of its statistics to update, and its
    original tensors back, untouched, on leaving. ``keep=False`` makes the
    context a no-op (the statistics update as usual).
    """
    if not keep:
        yield
        return
    untracked, copied = [], []
    for layer in _norm_layers(module):
        if (getattr(layer, 'track_running_stats', False)
                and type(layer).forward in _UNTRACKABLE_FORWARDS):
            untracked.append(layer)
        else:
            copied.append(layer)
    slots = _stat_slots(copied)
    with torch.no_grad():
        originals = [buffers[name] for buffers, name in slots]
        for (buffers, name), copy in zip(slots, _copies(originals)):
            buffers[name] = copy
    for layer in untracked:
        layer.track_running_stats = False
    try:
        yield
    finally:
        for layer in untracked:
            layer.track_running_stats = True
        for (buffers, name), original in zip(slots, originals):
            buffers[name] = original
