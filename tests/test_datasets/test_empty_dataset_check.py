import re

import pytest
from mmengine.dataset import BaseDataset
from mmseg.datasets import BaseSegDataset

from mmseg_csl.datasets import describe_data_source, setup_empty_dataset_check
from tests.data_utils import make_tiny_seg_dataset


@pytest.fixture
def tiny_kwargs(tmp_path) -> dict:
    return make_tiny_seg_dataset(tmp_path, num_images=2)


def test_non_empty_datasets_load_as_before(tiny_kwargs, tmp_path):
    (tmp_path / 'split.txt').write_text('000\n001\n')
    assert len(BaseSegDataset(**tiny_kwargs, ann_file='split.txt')) == 2
    assert len(BaseSegDataset(**tiny_kwargs)) == 2


def test_empty_split_file_is_named(tiny_kwargs, tmp_path):
    (tmp_path / 'split.txt').write_text('')
    split = re.escape(str(tmp_path / 'split.txt'))
    message = f"^BaseSegDataset with ann_file '{split}' has no samples$"
    with pytest.raises(ValueError, match=message):
        BaseSegDataset(**tiny_kwargs, ann_file='split.txt')


def test_image_folder_without_images_of_the_suffix_is_named(tiny_kwargs, tmp_path):
    folder = re.escape(str(tmp_path / 'img_dir'))
    with pytest.raises(ValueError, match=f"^BaseSegDataset reading images "
                       f"'\\*\\.jpg' in '{folder}' has no samples$"):
        BaseSegDataset(**{**tiny_kwargs, 'img_suffix': '.jpg'})


def test_unserialised_empty_dataset_is_left_to_its_users(tiny_kwargs, tmp_path):
    (tmp_path / 'split.txt').write_text('')
    dataset = BaseSegDataset(**tiny_kwargs, ann_file='split.txt', serialize_data=False)
    assert len(dataset) == 0
    assert describe_data_source(dataset) == (
        f"BaseSegDataset with ann_file '{tmp_path / 'split.txt'}'")


def test_description_of_a_dataset_without_files():
    assert describe_data_source(object()) == 'object'


def test_setup_twice_wraps_once():
    wrapped = BaseDataset._serialize_data
    setup_empty_dataset_check()
    assert BaseDataset._serialize_data is wrapped
    assert wrapped.refuses_empty_datasets
