"""A tiny segmentation dataset written to disk, for tests that need real files.

``make_tiny_seg_dataset`` writes PNG images (and label maps) in mmseg's
``img_dir`` / ``ann_dir`` layout and returns the keyword arguments of mmseg's
``BaseSegDataset`` that read them::

    kwargs = make_tiny_seg_dataset(tmp_path / 'labeled', num_images=4)
    dataset = BaseSegDataset(**kwargs, pipeline=[...])
    # or in a config: dict(type='BaseSegDataset', **kwargs, pipeline=[...])

Datasets made with the same ``num_classes`` have equal metainfo, so they can
be joined by a ``ConcatDataset``.
"""
import os
from pathlib import Path
from typing import Tuple, Union

import mmcv
import numpy as np
import pytest

BLOCK_SIZE = 10


def tiny_seg_metainfo(num_classes: int) -> dict:
    """``metainfo`` of a tiny dataset: classes ``class0, class1, ...`` and a
    palette of grey levels."""
    return {
        'classes': tuple(f'class{c}' for c in range(num_classes)),
        'palette': [[level] * 3 for level in class_grey_levels(num_classes)]
    }


def class_grey_levels(num_classes: int) -> list:
    """The grey level (0-255) that stands for each class in the images."""
    return np.linspace(40, 215, num_classes).round().astype(int).tolist()


def make_tiny_seg_dataset(root: Union[str, Path],
                          num_images: int = 4,
                          size: Tuple[int, int] = (40, 50),
                          num_classes: int = 3,
                          with_labels: bool = True,
                          seed: int = 0) -> dict:
    """Write ``num_images`` images of ``size`` (H, W) and return dataset kwargs.

    The label map of an image is a grid of ``BLOCK_SIZE`` x ``BLOCK_SIZE``
    blocks of random classes; the image is grey (B = G = R), each pixel the
    grey level of its class (:func:`class_grey_levels`) plus uniform noise in
    [-8, 8]. So a model can learn the classes from the pixel values, and the
    block pattern tells where in the image a crop comes from.

    Files: ``root/img_dir/<i>.png`` (uint8, 3 channels) and, if
    ``with_labels``, ``root/ann_dir/<i>.png`` (uint8 class ids), with
    ``<i>`` = 000, 001, ...

    Args:
        root: Folder to write into (created if missing).
        num_images: Number of images.
        size: (height, width) of every image.
        num_classes: Number of classes.
        with_labels: Write the label maps too; without them the returned
            ``data_prefix`` has no ``seg_map_path`` (an unlabeled dataset).
        seed: Seed of the content.

    Returns:
        dict: ``data_root``, ``data_prefix``, ``img_suffix``,
        ``seg_map_suffix`` and ``metainfo`` for ``BaseSegDataset``.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    levels = np.array(class_grey_levels(num_classes))
    blocks = (-(-height // BLOCK_SIZE), -(-width // BLOCK_SIZE))
    for index in range(num_images):
        label = rng.integers(0, num_classes, blocks).astype(np.uint8)
        label = label.repeat(BLOCK_SIZE, 0).repeat(BLOCK_SIZE, 1)[:height, :width]
        noise = rng.integers(-8, 9, (height, width))
        grey = np.clip(levels[label] + noise, 0, 255).astype(np.uint8)
        name = f'{index:03d}.png'
        mmcv.imwrite(np.repeat(grey[..., None], 3, axis=2),
                     str(Path(root, 'img_dir', name)))
        if with_labels:
            mmcv.imwrite(label, str(Path(root, 'ann_dir', name)))
    data_prefix = {'img_path': 'img_dir'}
    if with_labels:
        data_prefix['seg_map_path'] = 'ann_dir'
    return {
        'data_root': str(root),
        'data_prefix': data_prefix,
        'img_suffix': '.png',
        'seg_map_suffix': '.png',
        'metainfo': tiny_seg_metainfo(num_classes)
    }


def prepared_camvid() -> Path:
    """The real CamVid, as ``tools/dataset_converters/camvid.py`` writes it,
    where the environment variable ``CAMVID_ROOT`` says (as for the configs);
    the calling test is skipped without it."""
    root = os.environ.get('CAMVID_ROOT')
    if not root or not Path(root, 'img_dir').is_dir():
        pytest.skip('no CamVid: set CAMVID_ROOT to the folder that '
                    'tools/dataset_converters/camvid.py wrote (docs/data.md)')
    return Path(root)
