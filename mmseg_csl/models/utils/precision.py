import torch
from torch import Tensor


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype that losses and selection compute in: float64 stays float64;
    float32 and the half types (the autocast dtypes of mixed precision)
    compute in float32."""
    return torch.promote_types(dtype, torch.float32)


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` in :func:`compute_dtype` of its dtype (itself when it is float32
    or float64)."""
    return x.to(compute_dtype(x.dtype))
