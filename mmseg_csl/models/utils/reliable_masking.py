from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ReliableBlockMasking(nn.Module):
    """Random block masking of reliable pixels (docs/method.md, section 4).

    The image is tiled into ``block_size`` x ``block_size`` blocks; each block is
    chosen with probability ``ratio``, and the chosen blocks are intersected with
    the reliable pixels of the weak view. Masked pixels are set to 0, i.e. the
    dataset mean colour after normalisation, so the network has to infer the masked
    reliable regions from their context, low-reliability regions included.

    Args:
        block_size (int): side of a mask block in pixels.
        ratio (float): probability that a block is chosen (``cover_ratio``).
    """

    def __init__(self, block_size: int = 32, ratio: float = 0.7) -> None:
        super().__init__()
        if block_size < 1:
            raise ValueError(f'block_size must be >= 1, got {block_size}')
        if not 0 <= ratio <= 1:
            raise ValueError(f'ratio must lie in [0, 1], got {ratio}')
        self.block_size = block_size
        self.ratio = ratio

    def forward(self, images: Tensor, reliable: Tensor,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Mask reliable pixels.

        Args:
            images (Tensor): (B, C, H, W) normalised images.
            reliable (Tensor): (B, H, W) bool reliable pixels of the weak view.
            generator (torch.Generator, optional): random source for the blocks, on
                the images' device.

        Returns:
            tuple: the masked images (B, C, H, W), a new tensor, and the mask
            (B, H, W) bool of the pixels set to 0.
        """
        batch, _, height, width = images.shape
        if reliable.shape != (batch, height, width):
            raise ValueError(f'reliable has shape {tuple(reliable.shape)}, expected '
                             f'{(batch, height, width)} to match the images')
        grid = (-(-height // self.block_size), -(-width // self.block_size))
        chosen = torch.rand((batch, *grid), generator=generator,
                            device=images.device) < self.ratio
        blocks = chosen.repeat_interleave(self.block_size, dim=1).repeat_interleave(
            self.block_size, dim=2)[:, :height, :width]
        mask = blocks & reliable
        return images.masked_fill(mask.unsqueeze(1), 0), mask
