import re

import pytest
from mmengine.dataset import BaseDataset
from mmseg.datasets import BaseSegDataset

from mmseg_csl.datasets import (
    CamVidDataset,
    COCOObjectDataset,
    NonEmptyDatasetMixin,
    UniMatchSplitDataset,
    describe_data_source,
    empty_datasets_named,
)
from tests.data_utils import make_tiny_seg_dataset


@pytest.fixture
def tiny_kwargs(tmp_path) -> dict:
    kwargs = make_tiny_seg_dataset(tmp_path, num_images=2)
    kwargs.pop('metainfo')
    return kwargs


def test_the_package_datasets_take_the_check():
    for dataset_type in (CamVidDataset, COCOObjectDataset, UniMatchSplitDataset):
        assert issubclass(dataset_type, NonEmptyDatasetMixin)


def test_non_empty_datasets_load_as_before(tiny_kwargs, tmp_path):
    (tmp_path / 'split.txt').write_text('000\n001\n')
    assert len(CamVidDataset(**tiny_kwargs, ann_file='split.txt')) == 2
    assert len(CamVidDataset(**tiny_kwargs)) == 2


def test_empty_split_file_is_named(tiny_kwargs, tmp_path):
    (tmp_path / 'split.txt').write_text('')
    split = re.escape(str(tmp_path / 'split.txt'))
    message = f"^CamVidDataset with ann_file '{split}' has no samples$"
    with pytest.raises(ValueError, match=message):
        CamVidDataset(**tiny_kwargs, ann_file='split.txt')


def test_image_folder_without_images_of_the_suffix_is_named(tiny_kwargs, tmp_path):
    folder = re.escape(str(tmp_path / 'img_dir'))
    with pytest.raises(ValueError, match=f"^COCOObjectDataset reading images "
                       f"'\\*\\.jpg' in '{folder}' has no samples$"):
        COCOObjectDataset(**{**tiny_kwargs, 'img_suffix': '.jpg'})


def test_unserialised_empty_dataset_is_left_to_its_users(tiny_kwargs, tmp_path):
    (tmp_path / 'split.txt').write_text('')
    dataset = CamVidDataset(**tiny_kwargs, ann_file='split.txt', serialize_data=False)
    assert len(dataset) == 0
    assert describe_data_source(dataset) == (
        f"CamVidDataset with ann_file '{tmp_path / 'split.txt'}'")


def test_mmseg_datasets_keep_mmengine_behaviour(tiny_kwargs, tmp_path):
    (tmp_path / 'split.txt').write_text('')
    assert BaseSegDataset._serialize_data is BaseDataset._serialize_data
    with pytest.raises(ValueError, match='need at least one array'):
        BaseSegDataset(**tiny_kwargs, ann_file='split.txt')


def test_description_of_a_dataset_without_files():
    assert describe_data_source(object()) == 'object'


def test_mmseg_datasets_are_named_while_empty_datasets_are_named(tiny_kwargs,
                                                                 tmp_path):
    (tmp_path / 'split.txt').write_text('')
    split = re.escape(str(tmp_path / 'split.txt'))
    with empty_datasets_named():
        with pytest.raises(ValueError, match=f"^BaseSegDataset with ann_file "
                           f"'{split}' has no samples$"):
            BaseSegDataset(**tiny_kwargs, ann_file='split.txt')
        # An empty split file of this package's datasets is named as before.
        with pytest.raises(ValueError, match="^CamVidDataset with ann_file"):
            CamVidDataset(**tiny_kwargs, ann_file='split.txt')
        assert len(BaseSegDataset(**tiny_kwargs)) == 2
    assert BaseSegDataset._serialize_data is BaseDataset._serialize_data
