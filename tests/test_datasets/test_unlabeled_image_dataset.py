import logging
import re
from unittest import mock

import mmcv
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import DATASETS

import mmseg_csl  # noqa: F401
from mmseg_csl.datasets import UnlabeledImageDataset
from mmseg_csl.engine import expand_semi_config
from tests.tool_utils import tiny_experiment_config


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def write_image(path, size=(12, 16), value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    mmcv.imwrite(np.full((*size, 3), value, np.uint8), str(path))


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


def folder_with_unreadable_files(folder):
    """Images 0.png ... 7.png, of which 2.png is text and 5.png a truncated
    PNG; every readable image has a grey level of its own (10 x index)."""
    for index in range(8):
        write_image(folder / f'{index}.png', value=10 * index)
    (folder / '2.png').write_text('not an image')
    truncated = (folder / '5.png').read_bytes()[:40]
    (folder / '5.png').write_bytes(truncated)
    return folder


LOAD = [dict(type='LoadImageFromFile')]


def test_unreadable_image_is_replaced_by_the_next_one(tmp_path):
    folder = folder_with_unreadable_files(tmp_path)
    dataset = UnlabeledImageDataset(data_root=str(folder), pipeline=LOAD,
                                    max_unreadable_share=0.25)
    levels = [int(dataset[index]['img'][0, 0, 0]) for index in range(8)]
    # The samples of readable files are theirs; 2 takes 3, 5 takes 6.
    assert levels == [0, 10, 30, 30, 40, 60, 60, 70]
    assert dataset.unreadable == [str(folder / '2.png'), str(folder / '5.png')]


def test_skipped_images_are_logged_with_the_count(tmp_path):
    folder = folder_with_unreadable_files(tmp_path)
    dataset = UnlabeledImageDataset(data_root=str(folder), pipeline=LOAD,
                                    max_unreadable_share=0.25)
    logger = MMLogger.get_instance('unlabeled_skips', log_level='WARNING')
    with mock.patch.object(logger, 'log') as log:
        dataset[2], dataset[2], dataset[5]
    assert {call.args[0] for call in log.call_args_list} == {logging.WARNING}
    messages = [call.args[1] for call in log.call_args_list]
    assert len(messages) == 2  # a file is named once
    assert messages[0].startswith(f"unlabeled image '{folder / '2.png'}' cannot "
                                  'be read (failed to load image')
    assert messages[1].endswith('Unreadable so far in this process: 2 of 8 '
                                'images (training stops above '
                                'max_unreadable_share=0.25).')


def test_more_unreadable_images_than_the_share_stop_training(tmp_path):
    folder = folder_with_unreadable_files(tmp_path)
    dataset = UnlabeledImageDataset(data_root=str(folder), pipeline=LOAD,
                                    max_unreadable_share=0.2)
    dataset[2]
    with pytest.raises(RuntimeError, match=re.escape(
            f"2 of the 8 images of the unlabeled image folder '{folder}' cannot "
            'be read, more than max_unreadable_share=0.2 of them: '
            f"'{folder / '2.png'}', '{folder / '5.png'}'. Replace or remove them")):
        dataset[5]
    strict = UnlabeledImageDataset(data_root=str(folder), pipeline=LOAD,
                                   max_unreadable_share=0)
    with pytest.raises(RuntimeError, match='1 of the 8 images'):
        strict[2]


def test_pipeline_error_on_a_readable_image_is_raised(tmp_path):
    write_image(tmp_path / 'a.png', size=(12, 16))
    dataset = UnlabeledImageDataset(
        data_root=str(tmp_path),
        pipeline=[*LOAD, dict(type='RandomCrop', crop_size=(8, 8),
                              cat_max_ratio=0.5)])
    with pytest.raises(KeyError, match='gt_seg_map'):
        dataset[0]
    assert dataset.unreadable == []


def test_training_goes_on_past_unreadable_images(tmp_path):
    """A semi-supervised run whose unlabeled folder holds a text file and a
    truncated image trains through them (the 3 iterations draw all 6
    unlabeled images: one sampler epoch)."""
    cfg = Config(tiny_experiment_config(tmp_path / 'data', max_iters=3))
    folder = tmp_path / 'unlabeled'
    for index in range(6):
        write_image(folder / f'{index}.png', size=(32, 32))
    (folder / '1.png').write_text('not an image')
    (folder / '4.png').write_bytes((folder / '4.png').read_bytes()[:40])
    cfg.semi = dict(unlabeled=dict(data_root=str(folder),
                                   max_unreadable_share=0.5),
                    crop_size=(32, 32))
    expand_semi_config(cfg)
    cfg.train_cfg.val_interval = 10  # no validation
    cfg.update(work_dir=str(tmp_path / 'work'), experiment_name='skips',
               log_level='WARNING')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3
    unlabeled = runner.train_dataloader.dataset.datasets[1]
    assert sorted(unlabeled.unreadable) == [str(folder / '1.png'),
                                            str(folder / '4.png')]


def test_link_to_an_enclosing_folder_is_named(tmp_path):
    write_image(tmp_path / 'a' / 'x.png')
    (tmp_path / 'a' / 'up').symlink_to('..')
    with pytest.raises(OSError, match=re.escape(
            f"the unlabeled image folder '{tmp_path}' holds a symbolic link "
            f"loop: '{tmp_path / 'a' / 'up'}' -> '..' points to a folder that "
            'contains it')):
        UnlabeledImageDataset(data_root=str(tmp_path))
    assert len(UnlabeledImageDataset(data_root=str(tmp_path / 'a'),
                                     recursive=False)) == 1


def test_circle_of_links_is_named(tmp_path):
    write_image(tmp_path / 'x.png')
    (tmp_path / 'l1').symlink_to('l2')
    (tmp_path / 'l2').symlink_to('l1')
    with pytest.raises(OSError, match=re.escape(
            f"the unlabeled image folder '{tmp_path}' holds a circle of symbolic "
            f"links: '{tmp_path / 'l1'}' -> 'l2' never reaches a file")):
        UnlabeledImageDataset(data_root=str(tmp_path))
