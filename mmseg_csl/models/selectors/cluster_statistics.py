"""Moments of the selector's clusters (docs/method.md, section 2)."""
from typing import Tuple

import torch
from torch import Tensor


def masked_moments(member: Tensor, conf: Tensor, var: Tensor, conf_sq: Tensor,
                   var_sq: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Count, mean and unbiased variance of (conf, var) over a set of pixels.

    Args:
        member (Tensor): (B, N) 0/1 membership, in the features' dtype.
        conf, var (Tensor): (B, N) features; conf_sq, var_sq their squares.

    Returns:
        tuple: count (B,), mean (B, 2) and variance (B, 2). As the authors' code
        behaves, an empty set has mean 0 and a set of fewer than two pixels
        variance 0.
    """
    count = member.sum(dim=1)
    sums = torch.stack((torch.linalg.vecdot(member, conf),
                        torch.linalg.vecdot(member, var)), dim=1)
    squares = torch.stack((torch.linalg.vecdot(member, conf_sq),
                           torch.linalg.vecdot(member, var_sq)), dim=1)
    count_ = count.unsqueeze(1)
    mean = sums / count_.clamp(min=1)
    variance = (squares - count_ * mean.square()) / (count_ - 1).clamp(min=1)
    return count, mean, variance.clamp_(min=0)


def no_pixel_fallback(count: Tensor, mean: Tensor,
                      variance: Tensor) -> Tuple[Tensor, Tensor]:
    """An image without valid pixels gets mean (1, 0) and variance (1, 1), as the
    authors' code, so its z-scores stay finite."""
    empty = (count == 0).unsqueeze(1)
    return (torch.where(empty, mean.new_tensor([1.0, 0.0]), mean),
            torch.where(empty, variance.new_tensor([1.0, 1.0]), variance))
