from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmseg.datasets import CityscapesDataset, PascalVOCDataset
from mmseg.registry import DATASETS

from mmseg_csl.datasets import COCOObjectDataset, UniMatchSplitDataset

LOAD_BOTH = [{'type': 'LoadImageFromFile'}, {'type': 'LoadAnnotations'}]
# (image path, mask path) patterns of each layout, as in UniMatch's splits.
LAYOUTS = {
    'PascalVOCDataset': ('JPEGImages/2007_{:06d}.jpg',
                         'SegmentationClass/2007_{:06d}.png'),
    'CityscapesDataset':
    ('leftImg8bit/train/jena/jena_{:06d}_000019_leftImg8bit.png',
     'gtFine/train/jena/jena_{:06d}_000019_gtFine_labelTrainIds.png'),
    'COCOObjectDataset': ('train2017/{:012d}.jpg', 'masks/{:012d}.png'),
}
DATASET_CLASSES = {'PascalVOCDataset': PascalVOCDataset,
                   'CityscapesDataset': CityscapesDataset,
                   'COCOObjectDataset': COCOObjectDataset}


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def write_sample(root: Path, image: str, mask: Optional[str] = None,
                 seed: int = 0) -> np.ndarray:
    """Write a 6x8 image (and mask); returns the mask's class ids."""
    rng = np.random.default_rng(seed)
    (root / image).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / image), rng.integers(0, 256, (6, 8, 3), np.uint8))
    label = rng.integers(0, 19, (6, 8), np.uint8)
    if mask is not None:
        (root / mask).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / mask), label)
    return label


def write_split(path: Path, lines: list) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(line + '\n' for line in lines))
    return str(path)


@pytest.mark.parametrize('layout', sorted(LAYOUTS))
def test_reads_unimatch_splits_of_each_layout(tmp_path, layout):
    image_pattern, mask_pattern = LAYOUTS[layout]
    lines, labels = [], []
    for index in (32, 33, 39):
        image, mask = image_pattern.format(index), mask_pattern.format(index)
        labels.append(write_sample(tmp_path, image, mask, seed=index))
        lines.append(f'{image} {mask}')
    # Split files live anywhere: an absolute path here.
    split = write_split(tmp_path.parent / f'{layout}_split' / 'labeled.txt', lines)
    dataset = DATASETS.build(dict(
        type='UniMatchSplitDataset', data_root=str(tmp_path), ann_file=split,
        metainfo_from=layout, pipeline=LOAD_BOTH))
    assert isinstance(dataset, UniMatchSplitDataset)
    assert len(dataset) == 3
    assert dataset.metainfo['classes'] == DATASET_CLASSES[layout].METAINFO['classes']
    for index, (line, label) in enumerate(zip(lines, labels)):
        info = dataset.get_data_info(index)
        assert info['img_path'] == str(tmp_path / line.split()[0])
        assert info['seg_map_path'] == str(tmp_path / line.split()[1])
        sample = dataset[index]
        assert sample['img'].shape == (6, 8, 3)
        np.testing.assert_array_equal(sample['gt_seg_map'], label)


def test_unlabeled_samples_load_without_masks(tmp_path):
    lines = []
    for index in range(3):
        image = f'JPEGImages/{index}.jpg'
        write_sample(tmp_path, image)  # no mask on disk
        lines.append(f'{image} SegmentationClass/{index}.png')
    split = write_split(tmp_path / 'unlabeled.txt', lines)
    dataset = UniMatchSplitDataset(
        ann_file='unlabeled.txt', data_root=str(tmp_path), labeled=False,
        metainfo_from='PascalVOCDataset',
        pipeline=[{'type': 'LoadImageFromFile'}])
    sample = dataset[2]
    assert sample['img'].shape == (6, 8, 3) and 'gt_seg_map' not in sample
    # The mask path is kept for a pipeline that wants it.
    assert sample['seg_map_path'] == str(tmp_path / 'SegmentationClass/2.png')
    with pytest.raises(FileNotFoundError, match='3 files'):
        UniMatchSplitDataset(ann_file=split, data_root=str(tmp_path),
                             metainfo_from='PascalVOCDataset')


def test_missing_files_are_listed_before_training(tmp_path):
    lines = []
    for index in range(9):
        image, mask = f'JPEGImages/{index}.jpg', f'SegmentationClass/{index}.png'
        if index < 2:
            write_sample(tmp_path, image, mask)
        lines.append(f'{image} {mask}')
    split = write_split(tmp_path / 'labeled.txt', lines)
    with pytest.raises(FileNotFoundError) as error:
        UniMatchSplitDataset(ann_file=split, data_root=str(tmp_path),
                             metainfo_from='PascalVOCDataset')
    message = str(error.value)
    # 7 images and 7 masks; the first five in split order are named.
    assert '14 files named by the split' in message and split in message
    for named in ('JPEGImages/2.jpg', 'SegmentationClass/3.png', 'JPEGImages/4.jpg'):
        assert str(tmp_path / named) in message
    assert str(tmp_path / 'SegmentationClass/4.png') not in message


def test_reads_mmseg_name_lines(tmp_path):
    label = write_sample(tmp_path, 'JPEGImages/a.jpg', 'SegmentationClass/a.png')
    write_sample(tmp_path, 'JPEGImages/b.jpg', 'SegmentationClass/b.png')
    split = write_split(tmp_path / 'train.txt', ['a', '', 'b'])
    data_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
    dataset = UniMatchSplitDataset(
        ann_file='train.txt', data_root=str(tmp_path), data_prefix=data_prefix,
        metainfo_from='PascalVOCDataset', pipeline=LOAD_BOTH)
    assert len(dataset) == 2
    np.testing.assert_array_equal(dataset[0]['gt_seg_map'], label)
    write_split(tmp_path / 'train.txt', ['a', 'c', 'd'])
    with pytest.raises(FileNotFoundError, match=r'4 files.*JPEGImages/c\.jpg'):
        UniMatchSplitDataset(ann_file=split, data_root=str(tmp_path),
                             data_prefix=data_prefix)
    # Unlabeled names need no mask folder.
    write_split(tmp_path / 'train.txt', ['a', 'b'])
    dataset = UniMatchSplitDataset(
        ann_file=split, data_prefix=dict(img_path=str(tmp_path / 'JPEGImages')),
        labeled=False)
    assert 'seg_map_path' not in dataset.get_data_info(1)
    with pytest.raises(ValueError, match="line 1 names no mask"):
        UniMatchSplitDataset(
            ann_file=split, data_prefix=dict(img_path=str(tmp_path / 'JPEGImages')))


def test_bad_splits_and_settings_are_named(tmp_path):
    split = write_split(tmp_path / 'bad.txt', ['a b', 'a b c'])
    with pytest.raises(ValueError, match='line 2: expected'):
        UniMatchSplitDataset(ann_file=split, labeled=False)
    empty = write_split(tmp_path / 'empty.txt', [''])
    with pytest.raises(ValueError, match='lists no samples'):
        UniMatchSplitDataset(ann_file=empty)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        UniMatchSplitDataset(ann_file=str(tmp_path / 'nothing.txt'))
    with pytest.raises(KeyError, match="'NoSuchDataset' is not a registered"):
        UniMatchSplitDataset(ann_file=split, metainfo_from='NoSuchDataset')


def test_metainfo_updates_that_of_metainfo_from(tmp_path):
    write_sample(tmp_path, 'JPEGImages/a.jpg')
    split = write_split(tmp_path / 'unlabeled.txt', ['JPEGImages/a.jpg x.png'])
    dataset = UniMatchSplitDataset(
        ann_file=split, data_root=str(tmp_path), labeled=False,
        metainfo_from='COCOObjectDataset', metainfo=dict(dataset_name='coco'))
    assert dataset.metainfo['dataset_name'] == 'coco'
    assert len(dataset.metainfo['classes']) == 81
