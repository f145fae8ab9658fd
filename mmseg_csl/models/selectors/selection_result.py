from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class SelectionResult:
    """What a pseudo-label selector decided for a batch of unlabeled images.

    All tensors are detached. Float fields are float64 for float64 input and float32
    otherwise.

    Attributes:
        weight (Tensor): (B, H, W) per-pixel loss weight in [0, 1]; 0 on invalid pixels.
        reliable (Tensor): (B, H, W) bool, valid pixels whose weight is exactly 1.
        pseudo_label (Tensor): (B, H, W) long, the arg-max class.
        max_conf (Tensor): (B, H, W) maximum class probability c, whatever the
            selector's variant, so that it compares with confidence thresholds.
        res_var (Tensor): (B, H, W) scaled residual-class variance
            ``s = g_alpha (K - 1)^2 / (2 (1 - c + eps)) * v`` (>= 0), whatever the
            variant.
        center (Tensor): (B, 2) mean of the points of the reliable cluster (of the
            selected pixels for :class:`ThresholdSelector`), in the selector's
            point space: (c, s), or (log c, -s) for ``CSLSelector(variant=
            'masking')``. (1, 0) for an image without valid pixels.
        center_var (Tensor): (B, 2) unbiased variance of the same points; (1, 1)
            for an image without valid pixels.
        log_points (bool): whether the points are (log c, -s).
    """

    weight: Tensor
    reliable: Tensor
    pseudo_label: Tensor
    max_conf: Tensor
    res_var: Tensor
    center: Tensor
    center_var: Tensor
    log_points: bool = False

    def boundary(self) -> Tensor:
        """(B, 2) the reliable centre as (c, s), where both z-scores are 0:
        ``center`` itself for points (c, s), ``(exp(mu_1), -mu_2)`` for points
        (log c, -s). Below the boundary's c and above its s (for points (c, s)) or
        below both (for (log c, -s)), pixels are down-weighted."""
        if not self.log_points:
            return self.center
        return torch.stack((self.center[:, 0].exp(), -self.center[:, 1]), dim=1)

