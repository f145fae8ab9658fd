import functools
import itertools
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ReliableBlockMasking(nn.Module):
    """Random block masking of reliable pixels (docs/method.md, section 4).

    As the masking version's reference code: a grid of ``round(H /
    block_size)`` x ``round(W / block_size)`` cells (Python's rounding, at
    least one cell each way) is drawn per image, each cell chosen with
    probability ``ratio``, and stretched over the (H, W) image by PIL's
    nearest-neighbour resizing, so that the cells are about ``block_size``
    pixels wide and tile the image exactly (10 x 10 cells of about 32 pixels on
    a 321 crop). The chosen
    cells are intersected with the reliable pixels of the weak view. Masked
    pixels are set to 0, i.e. the dataset mean colour after normalisation, so
    the network has to infer the masked reliable regions from their context,
    low-reliability regions included.

    Args:
        block_size (int): the cells' approximate side in pixels.
        ratio (float): probability that a cell is chosen (``cover_ratio``).
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
        grid = tuple(max(1, round(side / self.block_size))
                     for side in (height, width))
        chosen = torch.rand((batch, *grid), generator=generator,
                            device=images.device) < self.ratio
        rows, cols = (_nearest_cells(side, cells, images.device)
                      for side, cells in zip((height, width), grid))
        blocks = chosen[:, rows[:, None], cols[None, :]]
        mask = blocks & reliable
        return images.masked_fill(mask.unsqueeze(1), 0), mask


def _nearest_cells(size: int, cells: int, device: torch.device) -> Tensor:
    """(size,) int64: the grid cell of each pixel when ``cells`` cells are
    resized to ``size`` pixels by nearest neighbour on pixel centres."""
    return torch.tensor(_pil_nearest_sources(size, cells), device=device)


@functools.lru_cache(maxsize=64)
def _pil_nearest_sources(size: int, cells: int) -> Tuple[int, ...]:
    """The source index of each of ``size`` output pixels in PIL's
    nearest-neighbour resize from ``cells``: the centre of pixel x maps to
    (x + 0.5) * cells / size, accumulated pixel by pixel in double precision
    as PIL does (which puts a centre that lies on a cell boundary, pixel 160
    of a 10-cell 321 crop, into the lower cell), then truncated."""
    step = cells / size
    return tuple(min(int(centre), cells - 1) for centre in
                 itertools.accumulate([step / 2] + [step] * (size - 1)))
