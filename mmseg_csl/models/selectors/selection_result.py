from dataclasses import dataclass

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
        max_conf (Tensor): (B, H, W) maximum class probability.
        res_var (Tensor): (B, H, W) scaled residual-class variance (spec section 2).
        center (Tensor): (B, 2) mean (max_conf, res_var) of the reliable pixels.
        center_var (Tensor): (B, 2) unbiased variance of the same.
    """

    weight: Tensor
    reliable: Tensor
    pseudo_label: Tensor
    max_conf: Tensor
    res_var: Tensor
    center: Tensor
    center_var: Tensor
