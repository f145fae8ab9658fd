from contextlib import contextmanager
from typing import Iterator, List

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
        buffers = dict(sub.named_buffers(recurse=False))
        if buffers.get('running_mean') is None or buffers.get('running_var') is None:
            continue
        stats.extend(buffers[name] for name in _STAT_NAMES
                     if buffers.get(name) is not None)
    return stats


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
    # mode never reads them). The foreach copies take a few kernel launches for
    # all buffers, where one copy each would take hundreds on a GPU.
    buffers = [buffer.data for buffer in running_stat_buffers(module)]
    saved = torch._foreach_mul(buffers, 1) if buffers else []
    try:
        yield
    finally:
        if buffers:
            torch._foreach_copy_(buffers, saved)
