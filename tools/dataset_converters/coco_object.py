"""Write COCO's instance annotations as semantic masks of 81 classes.

    python tools/dataset_converters/coco_object.py COCO_ROOT
        [--out-dir COCO_ROOT/masks] [--nproc N] [--splits train2017 val2017]

Reads ``COCO_ROOT/annotations/instances_{split}.json`` (plain json) and writes
one uint8 PNG per image of the split, named after the image:
``OUT_DIR/<image name without .jpg>.png``. The masks of all splits go into one
folder (COCO's file names are unique), which is the layout of UniMatch's
published COCO masks, so its split files (``train2017/X.jpg masks/X.png``) and
``COCOObjectDataset`` (``data_prefix=dict(img_path='train2017',
seg_map_path='masks')``) read the result unchanged::

    COCO_ROOT/
      annotations/instances_train2017.json, instances_val2017.json
      train2017/000000000009.jpg ...
      val2017/000000000139.jpg ...
      masks/000000000009.png, 000000000139.png ...    (written here)

Class ids: 0 is background; the categories of the json, sorted by their id,
get 1..N (for COCO: 80 categories, COCO's own order, 1 = person). The masks
hold no ignore value (255).

Overlapping instances: every instance is painted with its class, in this
order, each over the earlier ones: first the crowd regions (``iscrowd=1``,
kept as their class: they show objects of that class, only not one by one),
then the other instances from the largest to the smallest (area = pixels of
its mask here; equal areas keep the json's order). So a small object in front
of a large one stays visible, and an instance drawn alone wins over a crowd
region.

Rasterising: a pixel belongs to a polygon when its centre lies inside it
(even-odd rule; a centre exactly on an edge is inside if the polygon goes on
to its right, or below it for a horizontal edge, so polygons that share an
edge share no pixel); the polygons of one instance are united; polygons of
fewer than 3 points are skipped. RLE (uncompressed
``counts`` lists and compressed strings) is decoded exactly. pycocotools
rasterises polygons on a 1/5-pixel grid instead, so its masks can differ from
these on boundary pixels.
"""
import argparse
import json
import os.path as osp
from collections import defaultdict
from functools import partial
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
from mmengine.utils import mkdir_or_exist, track_parallel_progress, track_progress

Segmentation = Union[List[List[float]], dict]


def decode_rle_string(encoded: str) -> List[int]:
    """The run lengths of a compressed COCO RLE string.

    Each number is stored in chunks of 5 bits, least significant first, one
    character (code 48 + chunk) per chunk, with 0x20 set on all chunks but
    the last and 0x10 of the last being the sign. From the fourth number on,
    the stored value is the difference to the number two places before.
    """
    counts: List[int] = []
    value = shift = 0
    for char in encoded:
        chunk = ord(char) - 48
        value |= (chunk & 0x1F) << shift
        shift += 5
        if chunk & 0x20:
            continue
        if chunk & 0x10:
            value -= 1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
        value = shift = 0
    return counts


def decode_rle(rle: dict, height: int, width: int) -> np.ndarray:
    """The bool (height, width) mask of a COCO RLE dict.

    ``rle['counts']`` alternates runs of 0 and 1 (starting with 0) over the
    pixels in column-major order, as a list or a compressed string.
    """
    if list(rle['size']) != [height, width]:
        raise ValueError(f"RLE size {rle['size']} is not the image's "
                         f'[height, width] {[height, width]}')
    counts = rle['counts']
    if isinstance(counts, (str, bytes)):
        counts = decode_rle_string(
            counts.decode('ascii') if isinstance(counts, bytes) else counts)
    if sum(counts) != height * width:
        raise ValueError(f'RLE counts sum to {sum(counts)}, not to '
                         f'height * width = {height * width}')
    values = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
    return values.reshape(width, height).T


def _first_pixel_from(x: Union[float, np.ndarray], low: int,
                      high: int) -> Union[int, np.ndarray]:
    """The smallest pixel index i whose centre i + 0.5 is at or after x,
    clipped to [low, high]."""
    return np.clip(np.ceil(np.asarray(x) - 0.5), low, high).astype(int)


def _row_crossings(points: np.ndarray, centre_y: np.ndarray) -> np.ndarray:
    """(R, E) sorted x where the lines y = ``centre_y`` (R,) cross the edges
    of the closed polygon ``points`` (E, 2); inf where an edge does not.

    An edge crosses a line if the line's y is in the edge's [low y, high y):
    a vertex on the line counts for one of its two edges only, and
    horizontal edges never cross.
    """
    start, end = points, np.roll(points, -1, axis=0)
    low = np.minimum(start[:, 1], end[:, 1])
    high = np.maximum(start[:, 1], end[:, 1])
    centre_y = centre_y[:, None]
    crosses = (low <= centre_y) & (centre_y < high)
    with np.errstate(divide='ignore', invalid='ignore'):
        slope = (end[:, 0] - start[:, 0]) / (end[:, 1] - start[:, 1])
        crossing_x = start[:, 0] + (centre_y - start[:, 1]) * slope
    return np.sort(np.where(crosses, crossing_x, np.inf), axis=1)


def rasterize_polygon(polygon: Sequence[float], height: int,
                      width: int) -> np.ndarray:
    """The bool (height, width) mask of one polygon ``[x0, y0, x1, y1, ...]``
    (pixel (r, c) covers [c, c+1) x [r, r+1)): pixels whose centre is inside.
    """
    mask = np.zeros((height, width), bool)
    points = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(points) < 3:
        return mask
    top, bottom = _first_pixel_from(
        [points[:, 1].min(), points[:, 1].max()], 0, height)
    left, right = _first_pixel_from(
        [points[:, 0].min(), points[:, 0].max()], 0, width)
    if top == bottom or left == right:
        return mask
    crossing_x = _row_crossings(points, np.arange(top, bottom) + 0.5)
    # Even-odd rule: a row is inside from its 1st crossing to the 2nd, from
    # the 3rd to the 4th... (a closed polygon crosses a line an even number
    # of times); mark each span's first pixel +1 and the pixel after it -1.
    enter, leave = crossing_x[:, :-1:2], crossing_x[:, 1::2]
    spans = np.isfinite(leave)
    span_rows = np.nonzero(spans)[0]
    first = _first_pixel_from(enter[spans], left, right) - left
    after = _first_pixel_from(leave[spans], left, right) - left
    toggles = np.zeros((bottom - top, right - left + 1), np.int32)
    np.add.at(toggles, (span_rows, first), 1)
    np.add.at(toggles, (span_rows, after), -1)
    mask[top:bottom, left:right] = np.cumsum(toggles[:, :-1], axis=1) > 0
    return mask


def instance_mask(segmentation: Segmentation, height: int,
                  width: int) -> np.ndarray:
    """The bool (height, width) mask of an annotation's ``segmentation``:
    a list of polygons (united) or an RLE dict."""
    if isinstance(segmentation, dict):
        return decode_rle(segmentation, height, width)
    mask = np.zeros((height, width), bool)
    for polygon in segmentation:
        mask |= rasterize_polygon(polygon, height, width)
    return mask


def semantic_mask(annotations: Sequence[dict], height: int, width: int,
                  class_ids: Dict[int, int]) -> np.ndarray:
    """The uint8 (height, width) class-id mask of one image's annotations.

    ``class_ids`` maps a json category id to a class id. Painting order (each
    over the earlier): crowd regions, then the other instances from the
    largest area to the smallest; pixels of no instance are 0.
    """
    instances = []
    for annotation in annotations:
        category = annotation['category_id']
        if category not in class_ids:
            raise ValueError(f"annotation {annotation.get('id')} has category "
                             f'{category}, which is not in the categories')
        mask = instance_mask(annotation['segmentation'], height, width)
        is_crowd = bool(annotation.get('iscrowd', 0))
        paint_order = (not is_crowd, -int(mask.sum()))
        instances.append((paint_order, mask, class_ids[category]))
    semantic = np.zeros((height, width), np.uint8)
    # sorted() is stable: equal keys keep the json's order.
    for _, mask, class_id in sorted(instances, key=lambda item: item[0]):
        semantic[mask] = class_id
    return semantic


def write_mask(image_and_annotations: tuple, out_dir: str,
               class_ids: Dict[int, int]) -> None:
    """Write ``OUT_DIR/<image stem>.png`` for ``(image dict, annotations)``."""
    image, annotations = image_and_annotations
    mask = semantic_mask(annotations, image['height'], image['width'], class_ids)
    name = osp.splitext(osp.basename(image['file_name']))[0] + '.png'
    if not cv2.imwrite(osp.join(out_dir, name), mask):
        raise OSError(f'could not write {osp.join(out_dir, name)}')


def category_class_ids(categories: Sequence[dict]) -> Dict[int, int]:
    """json category id -> class id 1..N, in the order of the sorted ids."""
    ids = sorted(category['id'] for category in categories)
    if len(ids) > 254:
        raise ValueError(f'{len(ids)} categories do not fit uint8 ids 1..254')
    return {category: index for index, category in enumerate(ids, start=1)}


def convert_split(coco_root: str, split: str, out_dir: str,
                  nproc: int = 1) -> int:
    """Write the masks of every image of ``split``; returns their number."""
    with open(osp.join(coco_root, 'annotations', f'instances_{split}.json')) as f:
        instances = json.load(f)
    class_ids = category_class_ids(instances['categories'])
    annotations = defaultdict(list)
    for annotation in instances['annotations']:
        annotations[annotation['image_id']].append(annotation)
    tasks = [(image, annotations[image['id']]) for image in instances['images']]
    mkdir_or_exist(out_dir)
    write = partial(write_mask, out_dir=out_dir, class_ids=class_ids)
    if nproc > 1:
        track_parallel_progress(write, tasks, nproc)
    else:
        track_progress(write, tasks)
    return len(tasks)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=__doc__[__doc__.index('Reads'):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('coco_root', help='folder holding annotations/')
    parser.add_argument(
        '--out-dir', help='folder of the masks (default: COCO_ROOT/masks)')
    parser.add_argument(
        '--nproc', type=int, default=1, help='number of processes')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train2017', 'val2017'],
        help='splits to convert (annotations/instances_<split>.json)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join(args.coco_root, 'masks')
    for split in args.splits:
        count = convert_split(args.coco_root, split, out_dir, args.nproc)
        print(f'\n{split}: {count} masks written to {out_dir}')


if __name__ == '__main__':
    main()
