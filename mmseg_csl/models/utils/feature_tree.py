"""Batch operations on backbone outputs of any structure.

mmseg backbones return features in many shapes: a list of (B, C, h, w) maps
(ResNet, MiT), nested lists (DPT's ViT returns ``[feature, cls_token]`` per
level), a tuple of two maps in training (DDRNet) or a single map. The
semi-supervised step slices, concatenates and perturbs them along the batch
dimension; these functions do so leaf by leaf, keeping the structure.
"""
from typing import Any, Callable

from torch import Tensor


def map_tensors(fn: Callable[[Tensor], Tensor], tree: Any) -> Any:
    """``tree`` with ``fn`` applied to every tensor leaf.

    Lists and tuples (named tuples included) are rebuilt with the same type;
    any other leaf is kept as it is.
    """
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, (list, tuple)):
        items = [map_tensors(fn, item) for item in tree]
        if isinstance(tree, tuple) and hasattr(tree, '_fields'):
            return type(tree)(*items)
        return type(tree)(items)
    return tree


def slice_batch(tree: Any, start: int, stop: int) -> Any:
    """Samples ``start:stop`` of every tensor leaf of ``tree``."""
    return map_tensors(lambda tensor: tensor[start:stop], tree)


def has_spatial_tensor(tree: Any) -> bool:
    """Whether ``tree`` holds a (B, C, h, w) tensor leaf, the kind of leaf
    that feature perturbation (channel dropout) applies to."""
    if isinstance(tree, Tensor):
        return tree.dim() == 4
    if isinstance(tree, (list, tuple)):
        return any(has_spatial_tensor(item) for item in tree)
    return False


def batch_size(tree: Any) -> int:
    """B, the length of the first tensor leaf of ``tree`` (-1 if it has
    none)."""
    if isinstance(tree, Tensor):
        return len(tree)
    for item in tree if isinstance(tree, (list, tuple)) else ():
        size = batch_size(item)
        if size >= 0:
            return size
    return -1
