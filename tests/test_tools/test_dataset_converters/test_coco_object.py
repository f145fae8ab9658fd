import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.tool_utils import TOOLS, run_tool

HEIGHT, WIDTH = 20, 30
# json category id -> class id: the ids sorted, numbered from 1.
PERSON, CAR, CAT = 1, 2, 3
CATEGORIES = [{'id': 18, 'name': 'cat'}, {'id': 1, 'name': 'person'},
              {'id': 3, 'name': 'car'}]


def load_converter():
    spec = importlib.util.spec_from_file_location(
        'coco_object_converter', TOOLS / 'dataset_converters' / 'coco_object.py')
    module = importlib.util.module_from_spec(spec)
    # Registered, so that worker processes can unpickle its functions.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


converter = load_converter()


def rectangle(x0: float, y0: float, x1: float, y1: float) -> list:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def annotation(ann_id: int, image_id: int, category: int, segmentation,
               iscrowd: int = 0) -> dict:
    return {'id': ann_id, 'image_id': image_id, 'category_id': category,
            'segmentation': segmentation, 'iscrowd': iscrowd}


# pycocotools' encoding of ones at rows 2..5, columns 26..28 of a 20x30 mask.
COMPRESSED_RECTANGLE = 'Z`04`0000b0'


def tiny_instances() -> tuple:
    """A 3-image instance json and the masks it must give."""
    images = [{'id': i, 'file_name': f'img{i}.jpg', 'height': HEIGHT,
               'width': WIDTH} for i in (1, 2, 3)]
    # Image 1, polygons: a small car listed before the large person it
    # overlaps; a cat made of a triangle (no pixel centre on its slanted
    # edge), a square and a 2-point polygon (no area).
    expected1 = np.zeros((HEIGHT, WIDTH), np.uint8)
    expected1[2:15, 2:20] = PERSON
    expected1[5:9, 10:14] = CAR
    for row in range(8):
        expected1[row, row + 22:] = CAT
    expected1[15:18, 25:28] = CAT
    anns = [
        annotation(1, 1, 3, [rectangle(10, 5, 14, 9)]),
        annotation(2, 1, 1, [rectangle(2, 2, 20, 15)]),
        annotation(3, 1, 18, [[21.5, 0, 30, 0, 30, 8.5],
                              rectangle(25, 15, 28, 18), [0, 0, 5, 5]]),
    ]
    # Image 2, RLE: a crowd of cars (uncompressed, columns 15..24) under a
    # larger person (columns 0..19), though the crowd is the smaller one;
    # a cat as a compressed RLE.
    expected2 = np.zeros((HEIGHT, WIDTH), np.uint8)
    expected2[:, 15:25] = CAR
    expected2[:, 0:20] = PERSON
    expected2[2:6, 26:29] = CAT
    anns += [
        annotation(4, 2, 3, {'size': [HEIGHT, WIDTH], 'counts': [300, 200, 100]},
                   iscrowd=1),
        annotation(5, 2, 1, [rectangle(0, 0, 20, 20)]),
        annotation(6, 2, 18, {'size': [HEIGHT, WIDTH],
                              'counts': COMPRESSED_RECTANGLE}),
    ]
    # Image 3 has no annotation: all background.
    expected3 = np.zeros((HEIGHT, WIDTH), np.uint8)
    instances = {'images': images, 'annotations': anns, 'categories': CATEGORIES}
    return instances, {'img1': expected1, 'img2': expected2, 'img3': expected3}


def write_coco(root: Path, splits=('train2017', )) -> dict:
    instances, expected = tiny_instances()
    (root / 'annotations').mkdir(parents=True)
    for split in splits:
        with open(root / 'annotations' / f'instances_{split}.json', 'w') as f:
            json.dump(instances, f)
    return expected


def read_masks(folder: Path) -> dict:
    return {path.stem: cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            for path in sorted(folder.glob('*.png'))}


@pytest.mark.parametrize('nproc', [1, 2])
def test_masks_are_as_documented(tmp_path, nproc):
    expected = write_coco(tmp_path)
    converter.main([str(tmp_path), '--splits', 'train2017', '--nproc', str(nproc)])
    masks = read_masks(tmp_path / 'masks')
    assert sorted(masks) == ['img1', 'img2', 'img3']
    for name, mask in masks.items():
        assert mask.dtype == np.uint8 and mask.shape == (HEIGHT, WIDTH)
        np.testing.assert_array_equal(mask, expected[name], err_msg=name)


def test_script_writes_every_split_into_out_dir(tmp_path):
    write_coco(tmp_path / 'coco', splits=('train2017', 'val2017'))
    instances = json.loads(
        (tmp_path / 'coco/annotations/instances_val2017.json').read_text())
    for image in instances['images']:
        image['file_name'] = 'val_' + image['file_name']
    (tmp_path / 'coco/annotations/instances_val2017.json').write_text(
        json.dumps(instances))
    output = run_tool([
        'dataset_converters/coco_object.py', str(tmp_path / 'coco'),
        '--out-dir', str(tmp_path / 'out')
    ]).stdout
    assert 'val2017: 3 masks' in output
    assert sorted(read_masks(tmp_path / 'out')) == [
        'img1', 'img2', 'img3', 'val_img1', 'val_img2', 'val_img3']


def test_help_documents_the_layout():
    output = run_tool(['dataset_converters/coco_object.py', '--help']).stdout
    assert 'masks/000000000009.png' in output
    assert 'from the largest to the smallest' in output


def test_class_ids_follow_sorted_category_ids():
    assert converter.category_class_ids(CATEGORIES) == {1: 1, 3: 2, 18: 3}


def test_equal_areas_keep_json_order():
    first = annotation(1, 1, 1, [rectangle(0, 0, 4, 4)])
    second = annotation(2, 1, 3, [rectangle(2, 2, 6, 6)])
    class_ids = {1: 1, 3: 2}
    mask = converter.semantic_mask([first, second], 8, 8, class_ids)
    assert mask[3, 3] == 2
    mask = converter.semantic_mask([second, first], 8, 8, class_ids)
    assert mask[3, 3] == 1


def test_rasterize_polygon_takes_pixels_with_centre_inside():
    # A diamond with corners on pixel centres: |row - 5| + |col - 5| < 4 is
    # inside, > 4 outside; the centres at distance 4 lie on its edges and are
    # inside where the diamond continues to their right.
    mask = converter.rasterize_polygon([5.5, 1.5, 9.5, 5.5, 5.5, 9.5, 1.5, 5.5],
                                       11, 11)
    rows, cols = np.mgrid[0:11, 0:11]
    distance = np.abs(rows - 5) + np.abs(cols - 5)
    assert mask[distance < 4].all()
    assert not mask[distance > 4].any()
    on_edge = distance == 4
    np.testing.assert_array_equal(mask[on_edge], (cols < 5)[on_edge])
    # A top edge through pixel centres is inside, a bottom one outside.
    assert converter.rasterize_polygon(rectangle(0, 1.5, 3, 3.5), 5, 3)[
        :, 0].tolist() == [False, True, True, False, False]
    # Polygons reaching beyond the image are clipped.
    assert converter.rasterize_polygon(rectangle(-3, -3, 40, 2), 5, 6).sum() == 12


def test_decode_rle_string_with_negative_differences():
    mask = np.zeros((40, 50), bool)
    mask[0:35, 3] = True
    mask[0:1, 4] = True
    mask[10:40, 5:45] = True
    # pycocotools' encoding of that mask
    encoded = r'h3S15nN\1m0iN' + '0' * 77 + 'n5'
    decoded = converter.decode_rle({'size': [40, 50], 'counts': encoded}, 40, 50)
    np.testing.assert_array_equal(decoded, mask)
    assert converter.decode_rle_string(COMPRESSED_RECTANGLE) == [
        522, 4, 16, 4, 16, 4, 34]


def test_bad_annotations_are_named():
    rle = {'size': [4, 5], 'counts': [3, 4]}
    with pytest.raises(ValueError, match='sum to 7'):
        converter.decode_rle(rle, 4, 5)
    with pytest.raises(ValueError, match=r'RLE size \[4, 5\]'):
        converter.decode_rle(rle, 5, 4)
    unknown = annotation(7, 1, 99, [rectangle(0, 0, 2, 2)])
    with pytest.raises(ValueError, match='annotation 7 has category 99'):
        converter.semantic_mask([unknown], 4, 4, {1: 1})
