import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.precision import at_least_float32


@MODELS.register_module()
class PseudoLabelCrossEntropyLoss(nn.Module):
    """Weighted cross-entropy toward pseudo-labels (docs/method.md, section 3).

    ``L_u = sum_valid CE(logits, y) * w / |valid|``: the mean runs over all valid
    pixels, not over the selected ones, so an image whose pseudo-labels are mostly
    distrusted contributes a small loss rather than a loud one from few pixels.

    Args:
        loss_weight (float): factor on the loss.
        loss_name (str): key of the loss in the loss dict (mmengine sums the keys
            that contain ``'loss'``).
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_u') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, seg_logits: Tensor, pseudo_label: Tensor, weight: Tensor,
                valid: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            seg_logits (Tensor): (B, K, h, w) logits; resized bilinearly to the label
                size when (h, w) differs. The loss is computed in float32
                (float64 for float64 logits).
            pseudo_label (Tensor): (B, H, W) long class indices.
            weight (Tensor): (B, H, W) per-pixel weights in [0, 1].
            valid (Tensor): (B, H, W) bool, False on padded/ignored pixels.

        Returns:
            Tensor: scalar loss.
        """
        if not (pseudo_label.shape == weight.shape == valid.shape):
            raise ValueError(
                'pseudo_label, weight and valid must share a shape (B, H, W), got '
                f'{tuple(pseudo_label.shape)}, {tuple(weight.shape)}, '
                f'{tuple(valid.shape)}')
        if seg_logits.dim() != 4 or seg_logits.shape[0] != pseudo_label.shape[0]:
            raise ValueError(f'seg_logits of shape {tuple(seg_logits.shape)} does not '
                             f'match labels of shape {tuple(pseudo_label.shape)}')
        if seg_logits.shape[-2:] != pseudo_label.shape[-2:]:
            seg_logits = F.interpolate(seg_logits, size=pseudo_label.shape[-2:],
                                       mode='bilinear', align_corners=False)
        # float32 also under mixed precision (autocast gives the logits its dtype)
        per_pixel = F.cross_entropy(at_least_float32(seg_logits), pseudo_label,
                                    reduction='none')
        weighted = per_pixel * (weight.to(per_pixel.dtype) * valid)
        return self.loss_weight * weighted.sum() / valid.sum().clamp(min=1)

    @property
    def loss_name(self) -> str:
        return self._loss_name
