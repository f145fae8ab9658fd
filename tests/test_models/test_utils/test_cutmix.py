import pytest
import torch

from mmseg_csl.models.utils import apply_cutmix, generate_cutmix_masks


def _is_one_rectangle(mask: torch.Tensor) -> bool:
    rows, cols = mask.any(dim=1), mask.any(dim=0)
    return bool(mask.any()) and torch.equal(mask, rows[:, None] & cols[None])


def test_masks_are_boxes_of_the_configured_area():
    generator = torch.Generator().manual_seed(0)
    masks = generate_cutmix_masks(
        50, (100, 120), prob=1.0, area=(0.02, 0.4), generator=generator)
    assert masks.shape == (50, 100, 120) and masks.dtype == torch.bool
    fractions = masks.flatten(1).float().mean(dim=1)
    # Box sides are floored, so areas fall slightly below the drawn fraction.
    assert fractions.min() >= 0.015 and fractions.max() <= 0.4
    assert all(_is_one_rectangle(mask) for mask in masks)
    heights = masks.any(dim=2).sum(dim=1).float()
    widths = masks.any(dim=1).sum(dim=1).float()
    assert ((heights / widths) > 0.25).all() and ((heights / widths) < 4).all()


def test_prob_decides_which_samples_get_a_box():
    generator = torch.Generator().manual_seed(1)
    assert not generate_cutmix_masks(8, (16, 16), prob=0.0).any()
    masks = generate_cutmix_masks(400, (16, 16), prob=0.5, generator=generator)
    with_box = masks.flatten(1).any(dim=1).sum()
    assert 150 < with_box < 250


def test_generator_makes_masks_reproducible():
    def draw(seed):
        generator = torch.Generator().manual_seed(seed)
        return generate_cutmix_masks(6, (32, 32), prob=1.0, generator=generator)

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_global_rng_is_used_without_generator():
    torch.manual_seed(5)
    first = generate_cutmix_masks(6, (32, 32), prob=1.0)
    torch.manual_seed(5)
    assert torch.equal(first, generate_cutmix_masks(6, (32, 32), prob=1.0))


def test_elongated_image_gets_boxes_inside_it():
    masks = generate_cutmix_masks(
        5, (4, 300), prob=1.0, generator=torch.Generator().manual_seed(0))
    assert masks.shape == (5, 4, 300)
    assert all(_is_one_rectangle(mask) for mask in masks)


@pytest.mark.parametrize('kwargs, message', [
    ({'prob': 1.5}, 'prob'),
    ({'area': (0.5, 0.2)}, 'area'),
    ({'aspect': (0.0, 2.0)}, 'aspect'),
])
def test_bad_box_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_cutmix_masks(2, (8, 8), **kwargs)


def test_targets_and_weights_move_with_the_pixels():
    mask = torch.zeros(2, 6, 8, dtype=torch.bool)
    mask[0, 1:4, 2:7] = True
    images, source_images = torch.ones(2, 3, 6, 8), torch.full((2, 3, 6, 8),
                                                                2.0)
    label = torch.zeros(2, 6, 8, dtype=torch.long)
    weight = torch.full((2, 6, 8), 0.3)
    valid = torch.ones(2, 6, 8, dtype=torch.bool)
    source = (label + 1, weight + 0.6, ~valid)

    mixed, (mixed_label, mixed_weight, mixed_valid) = apply_cutmix(
        mask, images, source_images, (label, weight, valid), source)

    assert torch.equal(mixed == 2, mask[:, None].expand_as(mixed))
    assert torch.equal(mixed_label, mask.long())
    assert torch.allclose(mixed_weight, torch.where(mask, 0.9, 0.3))
    assert torch.equal(mixed_valid, ~mask)
    assert mixed_label.dtype == torch.long and mixed_valid.dtype == torch.bool
    assert torch.equal(images, torch.ones(2, 3, 6, 8))


def test_mismatched_shapes_are_refused():
    mask = torch.zeros(2, 6, 8, dtype=torch.bool)
    images = torch.zeros(2, 3, 6, 8)
    with pytest.raises(ValueError, match='mask shape'):
        apply_cutmix(mask, images, images, [torch.zeros(2, 6, 7)],
                     [torch.zeros(2, 6, 8)])
    with pytest.raises(ValueError, match='images'):
        apply_cutmix(mask, images, images[:1], [], [])
    with pytest.raises(ValueError, match='bool'):
        apply_cutmix(mask.float(), images, images, [], [])
