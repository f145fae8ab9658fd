import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import TRANSFORMS

from mmseg_csl.datasets.transforms import CheckSegMap


def loaded(tmp_path, label: np.ndarray, image_size=None, **load_args) -> dict:
    """``label`` and a grey image (of ``image_size``, else the label's size)
    written as files and read by LoadImageFromFile and LoadAnnotations."""
    init_default_scope('mmseg')
    size = label.shape if image_size is None else image_size
    cv2.imwrite(str(tmp_path / 'frame.png'), np.full((*size, 3), 128, np.uint8))
    cv2.imwrite(str(tmp_path / 'frame_label.png'), label)
    results = dict(img_path=str(tmp_path / 'frame.png'),
                   seg_map_path=str(tmp_path / 'frame_label.png'),
                   reduce_zero_label=load_args.pop('reduce_zero_label', False),
                   seg_fields=[])
    for transform in (dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', **load_args)):
        results = TRANSFORMS.build(transform)(results)
    return results


def test_labels_of_the_classes_and_the_ignore_index_pass(tmp_path):
    label = np.array([[0, 1, 2], [255, 2, 1]], np.uint8)
    results = loaded(tmp_path, label)
    assert CheckSegMap(num_classes=3)(results) is results


def test_values_outside_the_classes_name_the_file(tmp_path):
    label = np.array([[0, 1, 9], [255, 3, 9]], np.uint8)
    results = loaded(tmp_path, label)
    with pytest.raises(ValueError) as error:
        CheckSegMap(num_classes=3)(results)
    assert str(error.value).startswith(
        f'The label map {tmp_path}/frame_label.png (image {tmp_path}/frame.png) '
        'holds the label value(s) 3, 9, outside the classes 0..2 (num_classes=3) '
        'and the ignore index 255.')
    with pytest.raises(ValueError, match=r'value\(s\) 3, 9, 255, outside'):
        CheckSegMap(num_classes=3, ignore_index=0)(results)


def test_reduce_zero_label_is_taken_into_account(tmp_path):
    # the file's 0 becomes 255 and 1..3 become 0..2: fine for 3 classes
    results = loaded(tmp_path, np.array([[0, 1], [2, 3]], np.uint8),
                     reduce_zero_label=True)
    CheckSegMap(num_classes=3)(results)
    results = loaded(tmp_path, np.array([[0, 1], [4, 4]], np.uint8),
                     reduce_zero_label=True)
    with pytest.raises(ValueError, match=r'value\(s\) 3 \(4 in the file: '
                       'reduce_zero_label=True maps 0 to 255'):
        CheckSegMap(num_classes=3)(results)


def test_a_label_map_of_another_size_than_its_image(tmp_path):
    results = loaded(tmp_path, np.zeros((4, 6), np.uint8), image_size=(8, 12))
    with pytest.raises(ValueError) as error:
        CheckSegMap(num_classes=3)(results)
    assert str(error.value).startswith(
        f'The label map {tmp_path}/frame_label.png has the shape (4, 6), but its '
        f'image {tmp_path}/frame.png is 8x12')


def test_an_image_resized_before_its_labels_are_loaded_passes(tmp_path):
    init_default_scope('mmseg')
    results = loaded(tmp_path, np.zeros((4, 6), np.uint8))
    results = TRANSFORMS.build(dict(type='Resize', scale=(12, 8)))(results)
    results['gt_seg_map'] = np.zeros((4, 6), np.uint8)  # as loaded after it
    CheckSegMap(num_classes=3)(results)


def test_built_from_a_config():
    init_default_scope('mmseg')
    check = TRANSFORMS.build(dict(type='CheckSegMap', num_classes=19))
    assert repr(check) == 'CheckSegMap(num_classes=19, ignore_index=255)'
    with pytest.raises(ValueError, match='num_classes must be positive'):
        CheckSegMap(num_classes=0)
