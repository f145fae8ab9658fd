"""CutMix boxes and their application to images and per-pixel targets
(docs/method.md, section 5, step 3).

The box distribution follows UniMatch: a box is drawn for a sample with
probability ``prob``; its area is a uniform fraction of the image area, its
aspect ratio (height / width) is uniform in ``aspect``, and shape and position
are redrawn until the box lies inside the image.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

# Rounds of redrawing before a box that cannot fit (a very elongated image)
# is clipped to the image instead.
_MAX_DRAW_ROUNDS = 100


def _uniform(low: float, high: float, num: int,
             generator: Optional[torch.Generator]) -> Tensor:
    device = generator.device if generator is not None else None
    return low + (high - low) * torch.rand(
        num, generator=generator, device=device, dtype=torch.float64)


def _draw_boxes(areas: Tensor, size: Tuple[int, int],
                aspect: Tuple[float, float],
                generator: Optional[torch.Generator]) -> Tensor:
    """Boxes of the given pixel areas inside an image of ``size``.

    Returns:
        Tensor: (N, 4) int64 rows ``(top, left, height, width)``.
    """
    img_h, img_w = size
    boxes = torch.zeros(len(areas), 4, dtype=torch.int64)
    pending = torch.arange(len(areas))
    for _ in range(_MAX_DRAW_ROUNDS):
        if len(pending) == 0:
            return boxes
        ratio = _uniform(*aspect, len(pending), generator).cpu()
        box_h = (areas[pending] * ratio).sqrt().floor().long()
        box_w = (areas[pending] / ratio).sqrt().floor().long()
        top = _uniform(0, img_h, len(pending), generator).cpu().long()
        left = _uniform(0, img_w, len(pending), generator).cpu().long()
        fits = (top + box_h <= img_h) & (left + box_w <= img_w)
        boxes[pending[fits]] = torch.stack([top, left, box_h, box_w],
                                           dim=1)[fits]
        pending = pending[~fits]
    if len(pending):
        # Clip boxes of the middle aspect ratio (geometric mean) to the image.
        ratio = math.sqrt(aspect[0] * aspect[1])
        box_h = (areas[pending] * ratio).sqrt().floor().long().clamp(max=img_h)
        box_w = (areas[pending] / ratio).sqrt().floor().long().clamp(max=img_w)
        top = (_uniform(0, 1, len(pending), generator).cpu() *
               (img_h - box_h + 1)).long()
        left = (_uniform(0, 1, len(pending), generator).cpu() *
                (img_w - box_w + 1)).long()
        boxes[pending] = torch.stack([top, left, box_h, box_w], dim=1)
    return boxes


def check_cutmix_params(prob: float, area: Tuple[float, float],
                        aspect: Tuple[float, float]) -> None:
    """Raise ValueError naming the first CutMix parameter out of range."""
    if not 0 <= prob <= 1:
        raise ValueError(f'CutMix prob must lie in [0, 1], got {prob}')
    if not 0 < area[0] <= area[1] <= 1:
        raise ValueError(f'CutMix area must satisfy 0 < low <= high <= 1, '
                         f'got {tuple(area)}')
    if not 0 < aspect[0] <= aspect[1]:
        raise ValueError(f'CutMix aspect must satisfy 0 < low <= high, '
                         f'got {tuple(aspect)}')


def generate_cutmix_masks(num_samples: int,
                          size: Tuple[int, int],
                          prob: float = 0.5,
                          area: Tuple[float, float] = (0.02, 0.4),
                          aspect: Tuple[float, float] = (0.3, 1 / 0.3),
                          device: Optional[torch.device] = None,
                          generator: Optional[torch.Generator] = None
                          ) -> Tensor:
    """Draw one CutMix box per sample as a boolean mask.

    Args:
        num_samples (int): Number of samples N.
        size (tuple[int, int]): Image size (H, W).
        prob (float): Probability that a sample gets a box; samples without
            one get an all-False mask.
        area (tuple[float, float]): Range of the box area as a fraction of
            the image area.
        aspect (tuple[float, float]): Range of the box aspect ratio
            (height / width).
        device (torch.device, optional): Device of the returned mask.
        generator (torch.Generator, optional): Source of randomness; the
            global RNG of its device (CPU when None) otherwise.

    Returns:
        Tensor: (N, H, W) bool, True inside the box.
    """
    check_cutmix_params(prob, area, aspect)
    img_h, img_w = size
    has_box = _uniform(0, 1, num_samples, generator).cpu() < prob
    areas = _uniform(*area, num_samples, generator).cpu() * img_h * img_w
    boxes = _draw_boxes(areas, size, aspect, generator)
    boxes[~has_box] = 0
    top, left, box_h, box_w = boxes.to(device).unbind(dim=1)
    rows = torch.arange(img_h, device=device)[None]
    cols = torch.arange(img_w, device=device)[None]
    in_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


def apply_cutmix(mask: Tensor, images: Tensor, source_images: Tensor,
                 targets: Sequence[Tensor], source_targets: Sequence[Tensor]
                 ) -> Tuple[Tensor, Tuple[Tensor, ...]]:
    """Paste the masked region of the source into images and targets alike.

    Inside ``mask`` every output pixel, and each of its targets (e.g.
    pseudo-label, weight, valid mask), comes from the source sample; outside
    it from the original one, so targets and weights move with the pixels.

    Args:
        mask (Tensor): (N, H, W) bool, True where the source is pasted.
        images (Tensor): (N, C, H, W) images.
        source_images (Tensor): (N, C, H, W) images pasted from.
        targets (Sequence[Tensor]): per-pixel targets, each (N, H, W).
        source_targets (Sequence[Tensor]): matching targets of the source.

    Returns:
        tuple: mixed images (N, C, H, W) and a tuple of mixed targets, each
        (N, H, W) with the dtype of its input.
    """
    if mask.dtype != torch.bool or mask.dim() != 3:
        raise ValueError(f'CutMix mask must be a bool (N, H, W) tensor, got '
                         f'{mask.dtype} of shape {tuple(mask.shape)}')
    if images.shape != source_images.shape or \
            images.shape[:1] + images.shape[2:] != mask.shape:
        raise ValueError(
            f'CutMix images {tuple(images.shape)} and source images '
            f'{tuple(source_images.shape)} must be (N, C, H, W) with '
            f'(N, H, W) = mask shape {tuple(mask.shape)}')
    if len(targets) != len(source_targets):
        raise ValueError(f'CutMix got {len(targets)} targets but '
                         f'{len(source_targets)} source targets')
    for target, source in zip(targets, source_targets):
        if target.shape != mask.shape or source.shape != mask.shape:
            raise ValueError(
                f'CutMix targets must have the mask shape {tuple(mask.shape)},'
                f' got {tuple(target.shape)} and {tuple(source.shape)}')
    mixed_images = torch.where(mask[:, None], source_images, images)
    mixed_targets = tuple(
        torch.where(mask, source, target)
        for target, source in zip(targets, source_targets))
    return mixed_images, mixed_targets
