"""Optional compiled kernels, built by ``setup.py`` into ``mmseg_csl._ext``.

The PyTorch code of each component is the definition and runs on every device;
a kernel here replaces it for CPU tensors, and for CUDA tensors where the CUDA
kernels were built (with nvcc and a CUDA build of torch), since eager PyTorch
pays for every intermediate tensor and, on a GPU, for every kernel launch.
Building needs a C++ compiler and torch at install time
(``pip install --no-build-isolation --use-pep517``); ``MMSEG_CSL_WITH_OPS=0``
skips it, ``MMSEG_CSL_WITH_CUDA=0`` leaves the CUDA kernels out.
"""
from types import ModuleType
from typing import Optional

from torch import Tensor

try:
    from mmseg_csl import _ext
except ImportError:
    _ext = None


def kernels_built(device_type: str = 'cpu') -> bool:
    """Whether the compiled kernels were built for ``device_type`` ('cpu' or
    'cuda') with this installation."""
    if _ext is None:
        return False
    return device_type == 'cpu' or (device_type == 'cuda'
                                    and getattr(_ext, 'with_cuda', False))


def kernels_for(*tensors: Tensor) -> Optional[ModuleType]:
    """The compiled kernels when they are built for the device type that all
    ``tensors`` share; None otherwise."""
    device_types = {t.device.type for t in tensors}
    if len(device_types) != 1 or not kernels_built(device_types.pop()):
        return None
    return _ext


__all__ = ['kernels_built', 'kernels_for']
