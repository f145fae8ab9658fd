from collections import defaultdict
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

_STAT_NAMES = ('running_mean', 'running_var', 'num_batches_tracked')


def _running_stat_slots(module: nn.Module) -> List[Tuple[Dict[str, Tensor], str]]:
    """(buffer dict, name) of each buffer of :func:`running_stat_buffers`."""
    slots = []
    for sub in module.modules():
        # ``_buffers`` directly: named_buffers() builds a generator and a memo
        # set per module, which costs milliseconds on a ResNet-101 each step.
        buffers = sub._buffers
        if buffers.get('running_mean') is None or buffers.get('running_var') is None:
            continue
        slots.extend((buffers, name) for name in _STAT_NAMES
                     if buffers.get(name) is not None)
    return slots


def running_stat_buffers(module: nn.Module) -> List[Tensor]:
    """The running statistics of every normalisation layer in ``module``: the
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` buffers of each
    submodule that has the first two (PyTorch's and mmcv's batch norms,
    synchronised or not)."""
    return [buffers[name] for buffers, name in _running_stat_slots(module)]


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

    Inside, every buffer of :func:`running_stat_buffers` is replaced by a copy,
    which the forwards update; on leaving, the original tensors are put back,
    untouched: the forwards inside normalise with their own batch statistics
    but leave no trace in the statistics used at evaluation, as in both released
    versions of CSL (docs/method.md, section 5, "BatchNorm running statistics").
    Swapping the tensors, rather than writing the saved values back, needs
    neither an untracked write (which ``.data`` would take, one call per buffer)
    nor a restoring copy. ``keep=False`` makes the context a no-op (the
    statistics update as usual).
    """
    if not keep:
        yield
        return
    with torch.no_grad():
        slots = _running_stat_slots(module)
        originals = [buffers[name] for buffers, name in slots]
        for (buffers, name), copy in zip(slots, _copies(originals)):
            buffers[name] = copy
    try:
        yield
    finally:
        for (buffers, name), original in zip(slots, originals):
            buffers[name] = original
