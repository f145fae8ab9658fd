"""Batch operations on backbone outputs of any structure."""
from typing import NamedTuple

import torch

from mmseg_csl.models.utils import (
    batch_size,
    has_spatial_tensor,
    map_tensors,
    slice_batch,
)


class Pair(NamedTuple):
    feature: torch.Tensor
    token: torch.Tensor


def dpt_like(num: int) -> list:
    """DPT's ViT output: a [feature, class token] list per level."""
    return [[torch.randn(num, 8, 4, 4), torch.randn(num, 8)] for _ in range(3)]


def test_map_tensors_keeps_the_structure():
    feats = (torch.ones(2, 3, 4, 4), [torch.ones(2, 5), Pair(
        torch.ones(2, 1, 2, 2), torch.ones(2, 7))], 'hw_shape', 3)
    doubled = map_tensors(lambda tensor: 2 * tensor, feats)
    assert type(doubled) is tuple and type(doubled[1]) is list
    assert isinstance(doubled[1][1], Pair)
    assert doubled[2:] == ('hw_shape', 3)
    assert torch.equal(doubled[1][1].token, torch.full((2, 7), 2.0))


def test_slice_batch_slices_every_leaf():
    feats = dpt_like(5)
    part = slice_batch(feats, 1, 3)
    assert [[leaf.shape[0] for leaf in level] for level in part] == [[2, 2]] * 3
    assert torch.equal(part[2][1], feats[2][1][1:3])
    assert batch_size(part) == 2


def test_has_spatial_tensor():
    assert has_spatial_tensor(dpt_like(1))
    assert has_spatial_tensor(torch.zeros(1, 2, 3, 4))
    assert not has_spatial_tensor([torch.zeros(1, 16, 8), (torch.zeros(1, 8),)])
    assert batch_size(['no tensor']) == -1
