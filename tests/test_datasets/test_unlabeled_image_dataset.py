import mmcv
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

import mmseg_csl  # noqa: F401
from mmseg_csl.datasets import UnlabeledImageDataset


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def write_image(path, size=(12, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    mmcv.imwrite(np.full((*size, 3), 100, np.uint8), str(path))


def test_every_image_of_the_folder_and_its_subfolders(tmp_path):
    for name in ('b.png', 'a.JPG', 'sub/c.jpeg', 'sub/deeper/d.bmp'):
        write_image(tmp_path / name)
    (tmp_path / 'notes.txt').write_text('not an image')

    dataset = DATASETS.build(dict(type='UnlabeledImageDataset',
                                  data_root=str(tmp_path)))

    names = [dataset.get_data_info(i)['img_path'][len(str(tmp_path)) + 1:]
             for i in range(len(dataset))]
    assert names == ['a.JPG', 'b.png', 'sub/c.jpeg', 'sub/deeper/d.bmp']
    assert dataset.metainfo == {}  # no classes: the images carry no labels
    info = dataset.get_data_info(0)
    assert 'seg_map_path' not in info and info['seg_fields'] == []


def test_suffixes_subfolder_and_recursion_are_chosen(tmp_path):
    for name in ('x/a.png', 'x/b.jpg', 'x/sub/c.png'):
        write_image(tmp_path / name)
    flat = UnlabeledImageDataset(data_root=str(tmp_path),
                                 data_prefix=dict(img_path='x'),
                                 img_suffix='.png', recursive=False)
    assert len(flat) == 1
    assert flat.get_data_info(0)['img_path'] == str(tmp_path / 'x' / 'a.png')
    assert len(UnlabeledImageDataset(data_root=str(tmp_path / 'x'),
                                     img_suffix=['.png'])) == 2


def test_pipeline_loads_the_image_without_labels(tmp_path):
    write_image(tmp_path / 'a.png', size=(12, 16))
    dataset = UnlabeledImageDataset(
        data_root=str(tmp_path),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='RandomCrop', crop_size=(8, 8), cat_max_ratio=1.0),
                  dict(type='PackSegInputs')])
    sample = dataset[0]
    assert sample['inputs'].shape == (3, 8, 8)
    assert 'gt_sem_seg' not in sample['data_samples']


def test_missing_folder_is_named(tmp_path):
    missing = tmp_path / 'no_such_folder'
    with pytest.raises(FileNotFoundError,
                       match=f"unlabeled image folder '{missing}' does not exist"):
        UnlabeledImageDataset(data_root=str(missing))


def test_folder_without_images_is_named(tmp_path):
    (tmp_path / 'notes.txt').write_text('not an image')
    with pytest.raises(ValueError,
                       match=f"folder '{tmp_path}' and its subfolders holds no image"):
        UnlabeledImageDataset(data_root=str(tmp_path))
