import numpy as np
import pytest
import torch
from mmseg.registry import MODELS
from PIL import Image

from mmseg_csl import ReliableBlockMasking


def make_images(batch=2, height=70, width=50):
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, height, width, generator=generator) + 5
    reliable = torch.rand(batch, height, width, generator=generator) > 0.4
    return images, reliable


def test_masks_only_reliable_pixels_and_sets_them_to_zero():
    images, reliable = make_images()
    masked, mask = ReliableBlockMasking(block_size=8, ratio=0.7)(
        images, reliable, torch.Generator().manual_seed(1))
    assert mask.any() and not (mask & ~reliable).any()
    assert (masked.permute(0, 2, 3, 1)[mask] == 0).all()
    assert torch.equal(masked.permute(0, 2, 3, 1)[~mask],
                       images.permute(0, 2, 3, 1)[~mask])


def test_blocks_are_whole_and_chosen_at_the_ratio():
    images = torch.ones(4, 3, 256, 256)
    reliable = torch.ones(4, 256, 256, dtype=torch.bool)
    _, mask = ReliableBlockMasking(block_size=16, ratio=0.7)(
        images, reliable, torch.Generator().manual_seed(2))
    blocks = mask.view(4, 16, 16, 16, 16).permute(0, 1, 3, 2, 4).reshape(4, 256, -1)
    per_block = blocks.float().mean(dim=-1)
    assert ((per_block == 0) | (per_block == 1)).all()
    assert abs(per_block.mean().item() - 0.7) < 0.05


@pytest.mark.parametrize('height, width, cells', [(321, 321, (10, 10)),
                                                  (240, 320, (8, 10)),
                                                  (20, 70, (1, 2))])
def test_grid_is_the_reference_codes_resized_by_nearest_neighbour(
        height, width, cells):
    # The reference draws round(side / 32) cells a side and resizes them to
    # the crop with PIL's nearest-neighbour filter.
    images = torch.ones(3, 3, height, width)
    reliable = torch.ones(3, height, width, dtype=torch.bool)
    _, mask = ReliableBlockMasking(block_size=32, ratio=0.5)(
        images, reliable, torch.Generator().manual_seed(4))
    chosen = torch.rand((3, *cells), generator=torch.Generator().manual_seed(4)) < 0.5
    for image_mask, image_cells in zip(mask, chosen):
        resized = Image.fromarray(image_cells.numpy().astype(np.uint8)).resize(
            (width, height), resample=Image.NEAREST)
        assert torch.equal(image_mask, torch.from_numpy(np.array(resized)).bool())


def test_small_images_and_extreme_ratios():
    images, reliable = make_images(height=37, width=13)
    _, none = ReliableBlockMasking(block_size=32, ratio=0.0)(images, reliable)
    assert not none.any()
    _, full = ReliableBlockMasking(block_size=32, ratio=1.0)(images, reliable)
    assert torch.equal(full, reliable)


def test_generator_makes_it_reproducible():
    images, reliable = make_images()
    masking = ReliableBlockMasking(block_size=8)
    first = masking(images, reliable, torch.Generator().manual_seed(3))[1]
    second = masking(images, reliable, torch.Generator().manual_seed(3))[1]
    assert torch.equal(first, second)


def test_bad_arguments_raise():
    images, reliable = make_images()
    with pytest.raises(ValueError, match='reliable has shape'):
        ReliableBlockMasking()(images, reliable[:, :-1])
    with pytest.raises(ValueError, match='block_size'):
        ReliableBlockMasking(block_size=0)
    with pytest.raises(ValueError, match='ratio'):
        ReliableBlockMasking(ratio=1.2)


def test_registered():
    assert isinstance(MODELS.build(dict(type='ReliableBlockMasking')),
                      ReliableBlockMasking)
