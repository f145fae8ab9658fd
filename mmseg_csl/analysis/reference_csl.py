"""A straightforward per-image CSL selection, computed the way the authors' released
code does it: per image, residual features by zeroing the max slot, an SVD of the
(2, N) point matrix, cluster statistics, z-score weights. It is the yardstick for
the vectorised :class:`mmseg_csl.CSLSelector`: what its tests compare it with,
and what ``benchmarks/selector_speed.py`` times it against.

``variant='release'`` clusters the points (c, s) of the CSL release;
``variant='masking'`` the points (log c, -s) of the version with random masking.
Unlike the released code, an empty cluster is never the reliable one.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

# Default (alpha, eps) of each released version.
DEFAULTS = {'release': (2.0, 1e-8), 'masking': (8.0, 1e-10)}


def reference_csl(probs: Tensor, valid: Tensor, variant: str = 'release',
                  alpha: Optional[float] = None, eps: Optional[float] = None,
                  g_alpha: float = 1.0) -> Dict[str, Tensor]:
    """CSL of (B, K, H, W) probabilities and (B, H, W) validity, in their dtype.

    Returns ``weight``, ``max_conf`` (c) and ``res_var`` (s), each (B, H, W), and
    ``center`` and ``center_var`` (B, 2) in the variant's point space.
    """
    default_alpha, default_eps = DEFAULTS[variant]
    alpha = default_alpha if alpha is None else alpha
    eps = default_eps if eps is None else eps
    results = [_one_image(p, keep, variant == 'masking', alpha, eps, g_alpha)
               for p, keep in zip(probs, valid)]
    names = ('weight', 'max_conf', 'res_var', 'center', 'center_var')
    return {name: torch.stack(values) for name, values in zip(names, zip(*results))}


def _one_image(probs: Tensor, keep: Tensor, log_points: bool, alpha: float,
               eps: float, g_alpha: float) -> Tuple[Tensor, ...]:
    num_classes = probs.shape[0]
    max_conf, label = probs.max(dim=0)
    residual = probs.scatter(0, label.unsqueeze(0), 0)
    mean = (1 - max_conf) / (num_classes - 1)
    variance = (residual - mean).square().sum(dim=0) / (num_classes - 1)
    res_var = g_alpha * (num_classes - 1) ** 2 / (2 * (1 - max_conf + eps)) * variance
    if log_points:
        first, second = max_conf.log(), -res_var
    else:
        first, second = max_conf, res_var
    points = torch.stack((first[keep], second[keep]))  # (2, N)
    if points.shape[1] == 0:
        center, spread = points.new_tensor([1.0, 0.0]), points.new_tensor([1.0, 1.0])
    else:
        _, _, right = torch.linalg.svd(points, full_matrices=False)
        member = right.abs().argmax(dim=0)
        clusters = [points[:, member == j] for j in range(2)]
        # max() keeps the first of equal means, as argmax in the released code.
        reliable = max((c for c in clusters if c.shape[1] > 0),
                       key=lambda c: c[0].mean())
        center, spread = _cluster_stats(reliable)
    z_first = (first - center[0]) / (spread[0] + eps).sqrt()
    z_second = (center[1] - second) / (spread[1] + eps).sqrt()
    weight = torch.exp(-z_first ** 2 / alpha) * torch.exp(-z_second ** 2 / alpha)
    weight[(z_first > 0) | (z_second > 0)] = 1
    return torch.where(keep, weight, 0), max_conf, res_var, center, spread


def _cluster_stats(points: Tensor) -> Tuple[Tensor, Tensor]:
    """Mean and unbiased variance of a non-empty (2, n) cluster; 0 variance for
    a single point, as the released code."""
    if points.shape[1] == 1:
        return points.mean(dim=1), points.new_zeros(2)
    return points.mean(dim=1), points.var(dim=1)
