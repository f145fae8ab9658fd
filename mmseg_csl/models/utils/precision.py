import torch
from torch import Tensor


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32 if it is of a lower floating precision (the
    autocast dtype of mixed precision), else ``x`` itself (float64 stays)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))
