"""A straightforward per-image CSL selection, computed the way the authors' released
code does it: per image, residual features by zeroing the max slot, an SVD of the
(2, N) point matrix, cluster statistics, z-score weights. It is the yardstick for
the vectorised :class:`mmseg_csl.CSLSelector` in tests and in ``benchmarks/``.
"""
from typing import Dict, Tuple

import torch
from torch import Tensor


def reference_csl(probs: Tensor, valid: Tensor, alpha: float = 2.0,
                  eps: float = 1e-8, g_alpha: float = 1.0) -> Dict[str, Tensor]:
    """CSL of (B, K, H, W) probabilities and (B, H, W) validity, in their dtype."""
    results = [_one_image(p, keep, alpha, eps, g_alpha)
               for p, keep in zip(probs, valid)]
    names = ('weight', 'max_conf', 'res_var', 'center', 'center_var')
    return {name: torch.stack(values) for name, values in zip(names, zip(*results))}


def _one_image(probs: Tensor, keep: Tensor, alpha: float, eps: float,
               g_alpha: float) -> Tuple[Tensor, ...]:
    num_classes = probs.shape[0]
    max_conf, label = probs.max(dim=0)
    residual = probs.scatter(0, label.unsqueeze(0), 0)
    mean = (1 - max_conf) / (num_classes - 1)
    variance = (residual - mean).square().sum(dim=0) / (num_classes - 1)
    res_var = g_alpha * (num_classes - 1) ** 2 / (2 * (1 - max_conf + eps)) * variance
    points = torch.stack((max_conf[keep], res_var[keep]))  # (2, N)
    if points.shape[1] == 0:
        center, spread = points.new_tensor([1.0, 0.0]), points.new_tensor([1.0, 1.0])
    else:
        _, _, right = torch.linalg.svd(points, full_matrices=False)
        member = right.abs().argmax(dim=0)
        stats = [_cluster_stats(points[:, member == j]) for j in range(2)]
        center, spread = stats[1] if stats[1][0][0] > stats[0][0][0] else stats[0]
    z_conf = (max_conf - center[0]) / (spread[0] + eps).sqrt()
    z_var = (center[1] - res_var) / (spread[1] + eps).sqrt()
    weight = torch.exp(-z_conf ** 2 / alpha) * torch.exp(-z_var ** 2 / alpha)
    weight[(z_conf > 0) | (z_var > 0)] = 1
    return weight * keep, max_conf, res_var, center, spread


def _cluster_stats(points: Tensor) -> Tuple[Tensor, Tensor]:
    if points.shape[1] == 0:
        return points.new_zeros(2), points.new_zeros(2)
    if points.shape[1] == 1:
        return points.mean(dim=1), points.new_zeros(2)
    return points.mean(dim=1), points.var(dim=1)
