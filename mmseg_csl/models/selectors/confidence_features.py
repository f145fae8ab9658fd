from typing import NamedTuple

import torch
from torch import Tensor

from mmseg_csl.ops import kernels_for

from ..utils.precision import compute_dtype

RESIDUAL_FORMS = ('reference', 'exact')

# Elements of the (B, K, chunk) slice that the class-wise pass handles at once on
# CPU: its temporaries then stay in cache and are recycled by the allocator.
_CPU_CHUNK_ELEMENTS = 1 << 20


class ClassStatistics(NamedTuple):
    """Per-pixel reductions over the class dimension, flattened to (B, N).

    The residual sums exclude the maximum slot before summing, so they keep full
    relative precision when every non-max probability is tiny (max_conf close to 1),
    where ``sum(p^2) - max^2`` would cancel.
    """

    max_conf: Tensor  # (B, N) compute dtype
    pseudo_label: Tensor  # (B, N) long, first index of the maximum
    residual_mass: Tensor  # (B, N) sum of the non-max probabilities
    residual_squares: Tensor  # (B, N) sum of their squares


class ConfidenceFeatures(NamedTuple):
    """The per-pixel confidence features, flattened to (B, N), and what the input
    checks need to know about the probabilities."""

    max_conf: Tensor  # (B, N) compute dtype
    pseudo_label: Tensor  # (B, N) long
    res_var: Tensor  # (B, N) compute dtype, scaled residual variance
    # (B, N) compute dtype, sum of the non-max probabilities: 1 - max_conf for
    # normalised probabilities, without the rounding of max_conf near 1.
    residual_mass: Tensor
    # (4,) float64: smallest and largest probability, the largest |sum - 1| over
    # valid pixels (-1 when none is valid), and 1 if any probability is NaN.
    summary: Tensor


def confidence_features(probs: Tensor, valid: Tensor, residual: str = 'reference',
                        g_alpha: float = 1.0, eps: float = 1e-8,
                        use_kernels: bool = True) -> ConfidenceFeatures:
    """Features of (B, K, H, W) probabilities with (B, H, W) validity.

    Tensors on a device for which the compiled kernels are built (CPU; CUDA
    where nvcc built them) go through them (one read of the probabilities);
    otherwise, and with ``use_kernels=False``, the PyTorch definition below
    computes the same values.
    """
    batch, num_classes = probs.shape[:2]
    flat_valid = valid.reshape(batch, -1)
    kernels = kernels_for(probs) if use_kernels else None
    if kernels is not None:
        flat = probs.reshape(batch, num_classes, -1).to(compute_dtype(probs.dtype))
        return ConfidenceFeatures(*kernels.confidence_features(
            flat, flat_valid, residual == 'exact', g_alpha, eps))
    stats = class_statistics(probs)
    res_var = scaled_residual_variance(stats, num_classes, residual, g_alpha, eps)
    low, high = torch.aminmax(probs)
    sum_error = torch.where(flat_valid,
                            (stats.max_conf + stats.residual_mass - 1).abs(), -1)
    summary = torch.stack((low, high, sum_error.max(),
                           low.isnan().logical_or(high.isnan()))).double()
    return ConfidenceFeatures(stats.max_conf, stats.pseudo_label, res_var,
                              stats.residual_mass, summary)


def class_statistics(probs: Tensor) -> ClassStatistics:
    """One pass over (B, K, H, W) probabilities, reducing over the K classes.

    On CPU the pass walks cache-sized slices of pixels; elsewhere it is one slice.
    Ties for the maximum keep the first index as label and count the other tied
    slots as residual, so the result equals the per-pixel definition exactly.
    """
    batch, num_classes = probs.shape[:2]
    flat = probs.reshape(batch, num_classes, -1)
    num_pixels = flat.shape[-1]
    dtype = compute_dtype(probs.dtype)
    chunk = num_pixels
    if flat.device.type == 'cpu':
        chunk = max(1, _CPU_CHUNK_ELEMENTS // (batch * num_classes))
    index_dtype = torch.uint8 if num_classes <= 256 else torch.int32
    reversed_index = torch.arange(num_classes - 1, -1, -1, dtype=index_dtype,
                                  device=flat.device).view(1, -1, 1)
    out = ClassStatistics(*(flat.new_empty((batch, num_pixels), dtype=t) for t in
                            (dtype, torch.long, dtype, dtype)))
    for start in range(0, num_pixels, chunk):
        pixels = slice(start, start + chunk)
        part = flat[..., pixels].to(dtype)
        conf = part.amax(dim=1)
        is_max = part == conf.unsqueeze(1)
        residual = part.masked_fill(is_max, 0)
        extra_ties = is_max.sum(dim=1).sub_(1).to(dtype)
        out.max_conf[:, pixels] = conf
        out.residual_mass[:, pixels] = residual.sum(dim=1).add_(extra_ties * conf)
        out.residual_squares[:, pixels] = residual.square_().sum(dim=1).add_(
            extra_ties * conf.square())
        first_max = (is_max.to(index_dtype) * reversed_index).amax(dim=1)
        out.pseudo_label[:, pixels] = (num_classes - 1) - first_max.long()
    return out


def scaled_residual_variance(stats: ClassStatistics, num_classes: int,
                             residual: str = 'reference', g_alpha: float = 1.0,
                             eps: float = 1e-8) -> Tensor:
    """The scaled residual variance ``s``, (B, N).

    With r the residual mass and m = r / (K - 1) the residual mean,
    ``sum_{k != y} (p_k - m)^2 = residual_squares - r^2 / (K - 1)``. ``'exact'``
    divides it by K - 1; ``'reference'`` also counts the zeroed max slot, adding m^2,
    as the authors' released code does. Then
    ``s = g_alpha * (K - 1)^2 / (2 (r + eps)) * v``.

    The paper writes 1 - c for r; the two agree for normalised probabilities. Taking
    the measured r keeps ``s`` meaningful for low-precision inputs, where c can round
    to 1 while the other classes keep some mass.
    """
    dof = num_classes - 1
    mass = stats.residual_mass
    extra = 1 / dof ** 2 if residual == 'reference' else 0.0
    squares = torch.addcmul(stats.residual_squares, mass, mass, value=extra - 1 / dof)
    scale = g_alpha * dof / 2
    return squares.clamp_(min=0).mul_(scale).div_(mass + eps)
