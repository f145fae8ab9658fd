"""Split a training set into labeled and unlabeled samples.

    python tools/dataset_converters/make_splits.py DATA_ROOT --img-dir DIR
        (--ratio 1/16 | --num-labeled 92) [--seed 0] [--ann-dir DIR]
        [--ann-file LIST] [--labeled-pool LIST] [--format {mmseg,unimatch}]
        [--out-dir DIR] [--no-class-coverage] [--ignore-index 255] [--nproc N]

The training set is the names in ``--ann-file`` (mmseg's ``ann_file``: one
name a line, the image being ``<img-dir>/<name><img-suffix>``), or else every
image under ``DATA_ROOT/<img-dir>``. Labeled samples are drawn from the names
in ``--labeled-pool`` (e.g. VOC's 1464 fine images inside the 10582 of the
augmented set), or else from the whole training set; the unlabeled samples
are all the others, so the two files are disjoint and together the training
set. ``--ratio`` takes that fraction of the pool, rounded up (the counts of
the published splits: 1/512 of COCO's 118287 is 232).

Selection, deterministic for a seed: the names are sorted and shuffled by
``random.Random(seed)``. If label maps are given (``--ann-dir``), first every
class of the pool is covered, rarest class first (fewest images), each class
not yet covered by the first image in that order that shows it; then the
next images in that order fill the count. When there are more classes to
cover than labeled samples, the rarest are covered and a warning names the
others. ``--no-class-coverage`` skips this (and reading the label maps).

Writes ``OUT_DIR/labeled.txt`` and ``OUT_DIR/unlabeled.txt`` (default
``OUT_DIR``: ``DATA_ROOT/splits/<1_16 or 92>``), names sorted; in the format
``mmseg`` (``<name>`` a line: ``ann_file`` of any mmseg dataset) or
``unimatch`` (``<img-dir>/<name><img-suffix> <ann-dir>/<name><seg-map-suffix>``,
relative to DATA_ROOT, the format of UniMatch's published splits). Both are
read by ``UniMatchSplitDataset``.

Examples:
    # Pascal VOC classic: 92 of the 1464 fine images labeled, the other
    # images of the 10582 (mmseg's voc_aug.py writes trainaug.txt) unlabeled
    make_splits.py data/VOCdevkit/VOC2012 --img-dir JPEGImages
        --ann-dir SegmentationClass --labeled-pool ImageSets/Segmentation/train.txt
        --ann-file ImageSets/Segmentation/trainaug.txt --num-labeled 92
    # Cityscapes 1/16
    make_splits.py data/cityscapes --img-dir leftImg8bit/train
        --img-suffix _leftImg8bit.png --ann-dir gtFine/train
        --seg-map-suffix _gtFine_labelTrainIds.png --ratio 1/16
    # COCO 1/512 (masks of tools/dataset_converters/coco_object.py)
    make_splits.py data/coco --img-dir train2017 --ann-dir masks --ratio 1/512
        --format unimatch --nproc 8
"""
import argparse
import logging
import math
import os.path as osp
import posixpath
import random
from collections import defaultdict
from fractions import Fraction
from functools import partial
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence

import cv2
import numpy as np
from mmengine.fileio import list_dir_or_file, list_from_file
from mmengine.logging import print_log
from mmengine.utils import mkdir_or_exist, track_parallel_progress, track_progress


def labeled_count(pool_size: int,
                  ratio: Optional[Fraction] = None,
                  num_labeled: Optional[int] = None) -> int:
    """The number of labeled samples: ``num_labeled``, or ``ratio`` of the
    pool rounded up."""
    if (ratio is None) == (num_labeled is None):
        raise ValueError('give exactly one of ratio and num_labeled')
    if ratio is not None:
        if not 0 < ratio <= 1:
            raise ValueError(f'ratio must be in (0, 1], got {ratio}')
        num_labeled = math.ceil(pool_size * ratio)
    if not 1 <= num_labeled <= pool_size:
        raise ValueError(f'num_labeled must be in [1, {pool_size}] (the '
                         f'labeled pool), got {num_labeled}')
    return num_labeled


def covering_picks(order: Sequence[str], classes_of: Mapping[str, FrozenSet[int]],
                   budget: int) -> List[str]:
    """Images of ``order`` that together show every class, at most
    ``budget``: rarest class first, each class not yet shown by the first
    image in ``order`` that shows it."""
    images_with = defaultdict(list)
    for name in order:
        for class_id in classes_of[name]:
            images_with[class_id].append(name)
    picks: List[str] = []
    covered = set()
    for class_id in sorted(images_with,
                           key=lambda c: (len(images_with[c]), c)):
        if len(picks) == budget:
            break
        if class_id not in covered:
            picks.append(images_with[class_id][0])
            covered |= classes_of[picks[-1]]
    return picks


def choose_labeled(pool: Sequence[str],
                   num_labeled: int,
                   seed: int,
                   classes_of: Optional[Mapping[str, FrozenSet[int]]] = None
                   ) -> List[str]:
    """``num_labeled`` names of ``pool``, sorted (see the module docstring).

    Args:
        pool: Names that may be labeled.
        num_labeled: How many to choose.
        seed: Seed of the shuffle.
        classes_of: Class ids shown by each name of the pool; None: choose
            without covering classes.
    """
    order = sorted(pool)
    random.Random(seed).shuffle(order)
    picks = covering_picks(order, classes_of, num_labeled) if classes_of else []
    chosen = set(picks)
    fill = [name for name in order if name not in chosen]
    return sorted(picks + fill[:num_labeled - len(picks)])


def classes_in(path: str, ignore_index: int) -> FrozenSet[int]:
    """The class ids in the label map at ``path``, without ``ignore_index``."""
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise FileNotFoundError(f'cannot read the label map {path}')
    present = np.flatnonzero(np.bincount(label.ravel()))
    return frozenset(int(c) for c in present if c != ignore_index)


def read_classes(paths: Dict[str, str], ignore_index: int,
                 nproc: int = 1) -> Dict[str, FrozenSet[int]]:
    """name -> class ids of the label map ``paths[name]``."""
    read = partial(classes_in, ignore_index=ignore_index)
    names = sorted(paths)
    tasks = [paths[name] for name in names]
    classes = (track_parallel_progress(read, tasks, nproc) if nproc > 1
               else track_progress(read, tasks))
    return dict(zip(names, classes))


def list_names(data_root: str, img_dir: str, img_suffix: str,
               ann_file: Optional[str] = None) -> List[str]:
    """The names of ``ann_file`` (relative to ``data_root`` unless absolute),
    or of every ``*<img_suffix>`` under ``data_root/img_dir``."""
    if ann_file:
        lines = list_from_file(osp.join(data_root, ann_file))
        names = [line.strip() for line in lines if line.strip()]
    else:
        names = [
            path[:-len(img_suffix)] for path in list_dir_or_file(
                osp.join(data_root, img_dir), list_dir=False,
                suffix=img_suffix, recursive=True)
        ]
    if not names:
        raise ValueError(f'no training images found (ann_file={ann_file!r}, '
                         f'{osp.join(data_root, img_dir)}/*{img_suffix})')
    if len(set(names)) != len(names):
        raise ValueError('the training set names some images twice')
    return sorted(names)


def split_lines(names: Sequence[str], args: argparse.Namespace) -> List[str]:
    """The lines of a split file of ``names`` in ``args.format``."""
    if args.format == 'mmseg':
        return list(names)
    return [
        posixpath.join(args.img_dir, name + args.img_suffix) + ' ' +
        posixpath.join(args.ann_dir, name + args.seg_map_suffix)
        for name in names
    ]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=__doc__[__doc__.index('The training set'):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='dataset root')
    parser.add_argument(
        '--img-dir', required=True, help='image folder, relative to DATA_ROOT')
    parser.add_argument('--img-suffix', default='.jpg')
    parser.add_argument(
        '--ann-dir', help='label map folder, relative to DATA_ROOT')
    parser.add_argument('--seg-map-suffix', default='.png')
    parser.add_argument(
        '--ann-file', help='names of the training set (default: all images)')
    parser.add_argument(
        '--labeled-pool',
        help='names that may be labeled (default: the training set)')
    count = parser.add_mutually_exclusive_group(required=True)
    count.add_argument(
        '--ratio', type=Fraction, help='labeled fraction of the pool, e.g. 1/16')
    count.add_argument('--num-labeled', type=int, help='number of labeled')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--format', choices=['mmseg', 'unimatch'], default='mmseg')
    parser.add_argument('--out-dir', help='default: DATA_ROOT/splits/<1_16|92>')
    parser.add_argument(
        '--no-class-coverage',
        action='store_true',
        help='do not make the labeled images show every class')
    parser.add_argument('--ignore-index', type=int, default=255)
    parser.add_argument(
        '--nproc', type=int, default=1, help='processes reading label maps')
    args = parser.parse_args(argv)
    if args.format == 'unimatch' and not args.ann_dir:
        parser.error('--format unimatch needs --ann-dir')
    return args


def read_pool(args: argparse.Namespace, names: Sequence[str]) -> List[str]:
    """The names that may be labeled: ``--labeled-pool`` or all ``names``."""
    if not args.labeled_pool:
        return list(names)
    pool = list_names(args.data_root, args.img_dir, args.img_suffix,
                      args.labeled_pool)
    outside = sorted(set(pool) - set(names))
    if outside:
        raise ValueError(f'{len(outside)} names of the labeled pool are not in '
                         f'the training set, e.g. {outside[:5]}')
    return pool


def warn_uncovered(classes_of: Mapping[str, FrozenSet[int]],
                   labeled: Sequence[str]) -> None:
    """Warn about the classes of the pool that no labeled image shows."""
    missed = set().union(*classes_of.values()).difference(
        *(classes_of[name] for name in labeled))
    if missed:
        print_log(
            f'classes {sorted(missed)} are in no labeled image: too few '
            'labeled images to cover every class',
            logger='current',
            level=logging.WARNING)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    names = list_names(args.data_root, args.img_dir, args.img_suffix,
                       args.ann_file)
    pool = read_pool(args, names)
    num_labeled = labeled_count(len(pool), args.ratio, args.num_labeled)
    classes_of = None
    if args.ann_dir and not args.no_class_coverage:
        classes_of = read_classes(
            {
                name: osp.join(args.data_root, args.ann_dir,
                               name + args.seg_map_suffix)
                for name in pool
            }, args.ignore_index, args.nproc)
    labeled = choose_labeled(pool, num_labeled, args.seed, classes_of)
    if classes_of:
        warn_uncovered(classes_of, labeled)
    labeled_set = set(labeled)
    unlabeled = [name for name in names if name not in labeled_set]
    tag = str(args.num_labeled or args.ratio).replace('/', '_')
    out_dir = args.out_dir or osp.join(args.data_root, 'splits', tag)
    mkdir_or_exist(out_dir)
    for file_name, split in (('labeled.txt', labeled),
                             ('unlabeled.txt', unlabeled)):
        with open(osp.join(out_dir, file_name), 'w') as f:
            f.writelines(line + '\n' for line in split_lines(split, args))
    print(f'\n{len(labeled)} labeled, {len(unlabeled)} unlabeled written to '
          f'{out_dir}')


if __name__ == '__main__':
    main()
