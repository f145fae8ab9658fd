from collections import defaultdict
from contextlib import contextmanager
from typing import Dict, Iterator, List

import torch
import torch.nn as nn
from torch import Tensor

_STAT_NAMES = ('running_mean', 'running_var', 'num_batches_tracked')


def running_stat_buffers(module: nn.Module) -> List[Tensor]:
    """The running statistics of every normalisation layer in ``module``: the
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` buffers of each
    submodule that has the first two (PyTorch's and mmcv's batch norms,
    synchronised or not)."""
    stats = []
    for sub in module.modules():
        # ``_buffers`` directly: named_buffers() builds a generator and a memo
        # set per module, which costs milliseconds on a ResNet-101 each step.
        buffers = sub._buffers
        if buffers.get('running_mean') is None or buffers.get('running_var') is None:
            continue
        stats.extend(buffers[name] for name in _STAT_NAMES
                     if buffers.get(name) is not None)
    return stats


def _by_dtype(tensors: List[Tensor]) -> Dict[torch.dtype, List[Tensor]]:
    groups: Dict[torch.dtype, List[Tensor]] = defaultdict(list)
    for tensor in tensors:
        groups[tensor.dtype].append(tensor)
    return groups


@contextmanager
def running_stats_kept(module: nn.Module, keep: bool = True) -> Iterator[None]:
    """Forward ``module`` in train mode (batch statistics) without changing the
    running statistics of its normalisation layers.

    On leaving, every buffer of :func:`running_stat_buffers` is restored to its
    value on entry: the forwards inside normalise with their own batch statistics
    but leave no trace in the statistics used at evaluation, as in both released
    versions of CSL (docs/method.md, section 5, "BatchNorm running statistics").
    ``keep=False`` makes the context a no-op (the statistics update as usual).
    """
    if not keep:
        yield
        return
    # Through ``.data``: the autograd graph of the forward holds these buffers,
    # and a tracked in-place write would invalidate its backward (which in train
    # mode never reads them). The foreach copies, one per dtype (the float
    # statistics, the integer counts), take a few kernel launches for all
    # buffers, where one copy each, or a foreach over mixed dtypes, would take
    # hundreds on a GPU.
    groups = _by_dtype([buffer.data for buffer in running_stat_buffers(module)])
    saved = {dtype: torch._foreach_mul(buffers, 1)
             for dtype, buffers in groups.items()}
    try:
        yield
    finally:
        for dtype, buffers in groups.items():
            torch._foreach_copy_(buffers, saved[dtype])
