"""A synthetic segmentation dataset of coloured shapes, written to disk.

It is the project's embedded default data (the README's demo runs on it) and
needs no download: circles, squares and triangles of random colour, size and
rotation on textured, noisy backgrounds. The colour says nothing about the class,
so a model has to learn shape, from context, as on real images.
"""
import os.path as osp
from typing import Dict, Tuple

import cv2
import mmcv
import numpy as np

SHAPES_METAINFO = dict(
    classes=('background', 'circle', 'square', 'triangle'),
    palette=[[0, 0, 0], [220, 20, 60], [0, 128, 255], [255, 200, 0]])


def draw_shapes_sample(rng: np.random.Generator, size: Tuple[int, int] = (64, 64),
                       max_shapes: int = 3) -> Tuple[np.ndarray, np.ndarray]:
    """One image (H, W, 3) uint8 BGR and its label map (H, W) uint8."""
    height, width = size
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    top_left, bottom, right = rng.uniform(30, 225, (3, 3))
    image = (top_left + rows[..., None] * (bottom - top_left)
             + cols[..., None] * (right - top_left) / 2)
    label = np.zeros(size, np.uint8)
    for _ in range(rng.integers(1, max_shapes + 1)):
        shape_class = int(rng.integers(1, len(SHAPES_METAINFO['classes'])))
        mask = np.zeros(size, np.uint8)
        radius = rng.uniform(0.14, 0.28) * min(height, width)
        centre = rng.uniform((radius, radius), (width - radius, height - radius))
        if shape_class == 1:
            cv2.circle(mask, tuple(np.round(centre).astype(int)), int(round(radius)),
                       1, -1)
        else:
            corners = 4 if shape_class == 2 else 3
            angles = rng.uniform(0, 2 * np.pi) + np.arange(corners) * (
                2 * np.pi / corners)
            points = centre + radius * np.stack((np.cos(angles), np.sin(angles)), 1)
            cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
        inside = mask.astype(bool)
        image[inside] = rng.uniform(0, 255, 3)
        label[inside] = shape_class
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), label


def write_shapes_dataset(root: str, splits: Dict[str, int],
                         size: Tuple[int, int] = (64, 64), seed: int = 0) -> None:
    """Write ``img_dir/<split>/<i>.png`` and ``ann_dir/<split>/<i>.png`` under
    ``root`` for each ``split: number of images``; the same seed gives the same
    files. Each split draws from its own seeded stream."""
    for offset, (split, count) in enumerate(sorted(splits.items())):
        rng = np.random.default_rng([seed, offset])
        for index in range(count):
            image, label = draw_shapes_sample(rng, size)
            name = f'{index:05d}.png'
            mmcv.imwrite(image, osp.join(root, 'img_dir', split, name))
            mmcv.imwrite(label, osp.join(root, 'ann_dir', split, name))
