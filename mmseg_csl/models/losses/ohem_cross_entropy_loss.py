from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.precision import at_least_float32


@MODELS.register_module()
class BatchOhemCrossEntropyLoss(nn.Module):
    """Cross-entropy with online hard example mining over the whole batch.

    The supervised loss on Cityscapes in the training code released with CSL
    (Liu & Liu, ICCV 2025, arXiv:2509.16704), which is UniMatch's
    ``ProbOhemCrossEntropy2d``. With ``p`` the softmax probability of the
    ground-truth class at each labeled (non-ignored) pixel of the batch:

    - pixels with ``p <= thresh`` are kept;
    - if fewer than ``min_kept`` are kept, the threshold rises to the
      ``min_kept``-th smallest ``p``, so that at least ``min_kept`` pixels are
      kept (more on ties);
    - if the batch has fewer than ``min_kept`` labeled pixels, all are kept.

    The loss is the mean cross-entropy over the kept pixels; the selection
    carries no gradient. ``min_kept`` counts pixels of the whole batch this
    loss is given (one GPU's batch in distributed training), not per image.

    mmseg's ``OHEMPixelSampler`` with ``CrossEntropyLoss`` is a weaker loss:
    its ``min_kept`` is per image (multiplied by the batch size), and the
    sampled pixels only get weight 1 in a loss that is still divided by the
    number of all pixels (or of all labeled ones with ``avg_non_ignore``),
    so the loss and its gradient shrink by the fraction of pixels kept
    (about 3x when a third of them are hard) instead of being a mean over
    the hard pixels.

    Args:
        thresh (float): Probability below (or at) which a labeled pixel is
            hard. Default: 0.7.
        min_kept (int): Least number of pixels kept in the batch.
            Default: 200000.
        loss_weight (float): Factor on the loss. Default: 1.0.
        loss_name (str): Key of the loss in the loss dict; mmengine sums the
            keys that contain ``'loss'``. Default: 'loss_ce'.
    """

    def __init__(self,
                 thresh: float = 0.7,
                 min_kept: int = 200000,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        if not 0.0 <= thresh <= 1.0:
            raise ValueError(f'thresh must lie in [0, 1], got {thresh}')
        if min_kept < 0:
            raise ValueError(f'min_kept must be >= 0, got {min_kept}')
        self.thresh = float(thresh)
        self.min_kept = int(min_kept)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @torch.no_grad()
    def hard_pixel_mask(self,
                        cls_score: Tensor,
                        label: Tensor,
                        ignore_index: int = 255) -> Tensor:
        """Select the pixels the loss averages over.

        Args:
            cls_score (Tensor): (N, C, H, W) logits.
            label (Tensor): (N, H, W) long class indices.
            ignore_index (int): Label of unlabeled pixels. Default: 255.

        Returns:
            Tensor: (N, H, W) bool, True at the kept pixels.
        """
        valid = label != ignore_index
        num_valid = int(valid.sum())
        if num_valid <= self.min_kept:
            return valid
        prob = F.softmax(cls_score.float(), dim=1)
        gt_prob = prob.gather(1, torch.where(valid, label, 0).unsqueeze(1))
        gt_prob = gt_prob.squeeze(1)
        threshold = self.thresh
        if self.min_kept > 0:
            kth = torch.kthvalue(gt_prob[valid], self.min_kept).values.item()
            threshold = max(threshold, kth)
        return valid & (gt_prob <= threshold)

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: int = 255,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            cls_score (Tensor): (N, C, H, W) logits, at the label size.
            label (Tensor): (N, H, W) long class indices.
            weight (Tensor, optional): Per-pixel weights of a pixel sampler;
                not supported, since this loss selects its pixels itself.
            ignore_index (int): Label of unlabeled pixels. Default: 255.
            **kwargs: Other arguments of mmseg's loss interface, unused.

        Returns:
            Tensor: Scalar loss; 0 when no pixel is labeled.
        """
        if weight is not None:
            raise ValueError(
                'BatchOhemCrossEntropyLoss selects its pixels itself and '
                'takes no per-pixel weight; do not combine it with a pixel '
                'sampler (e.g. OHEMPixelSampler) in the decode head')
        if cls_score.dim() != 4 or label.shape != (cls_score.shape[:1] +
                                                   cls_score.shape[2:]):
            raise ValueError(f'cls_score of shape {tuple(cls_score.shape)} '
                             'does not match label of shape '
                             f'{tuple(label.shape)}')
        kept = self.hard_pixel_mask(cls_score, label, ignore_index)
        # float32 also under mixed precision, as the selection above
        per_pixel = F.cross_entropy(
            at_least_float32(cls_score), label, reduction='none',
            ignore_index=ignore_index)
        loss = per_pixel[kept].sum() / kept.sum().clamp(min=1)
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        return self._loss_name
