"""Optional compiled kernels, built by ``setup.py`` into ``mmseg_csl._ext``.

The PyTorch code of each component is the definition and runs on every device;
a kernel here only replaces it for CPU tensors, where eager PyTorch pays for every
intermediate tensor. Building needs a C++ compiler and torch at install time
(``pip install --no-build-isolation --use-pep517``); ``MMSEG_CSL_WITH_OPS=0``
skips it.
"""
from types import ModuleType
from typing import Optional

from torch import Tensor

try:
    from mmseg_csl import _ext
except ImportError:
    _ext = None


def cpu_kernels_built() -> bool:
    """Whether the compiled CPU kernels were built with this installation."""
    return _ext is not None


def cpu_kernels_for(*tensors: Tensor) -> Optional[ModuleType]:
    """The compiled kernels when they are built and every tensor is on CPU."""
    if _ext is None or any(t.device.type != 'cpu' for t in tensors):
        return None
    return _ext


__all__ = ['cpu_kernels_built', 'cpu_kernels_for']
