import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import DATA_SAMPLERS, DATASETS

import mmseg_csl  # noqa: F401
from mmseg_csl.datasets import SemiSupervisedDataset
from tests.data_utils import make_tiny_seg_dataset, tiny_seg_metainfo


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture
def sources(tmp_path):
    labeled = make_tiny_seg_dataset(tmp_path / 'labeled', num_images=3)
    make_tiny_seg_dataset(tmp_path / 'unlabeled', num_images=5, with_labels=False)
    return (dict(type='BaseSegDataset', **labeled),
            dict(type='UnlabeledImageDataset',
                 data_root=str(tmp_path / 'unlabeled' / 'img_dir')))


def test_labeled_then_unlabeled_with_the_labeled_metainfo(sources):
    labeled, unlabeled = sources
    dataset = DATASETS.build(dict(type='SemiSupervisedDataset', labeled=labeled,
                                  unlabeled=unlabeled))

    assert [len(source) for source in dataset.datasets] == [3, 5]
    assert len(dataset) == 8
    assert dataset.metainfo['classes'] == tiny_seg_metainfo(3)['classes']
    assert 'seg_map_path' in dataset.get_data_info(0)
    assert 'seg_map_path' not in dataset.get_data_info(3)


def test_mmengine_concat_refuses_what_the_wrapper_takes(sources):
    # the reason for the wrapper: an unlabeled folder has no classes
    with pytest.raises(ValueError, match='does not in the meta information'):
        DATASETS.build(dict(type='ConcatDataset', datasets=list(sources)))


def test_wrapped_labeled_dataset_and_the_sampler(sources):
    labeled, unlabeled = sources
    dataset = SemiSupervisedDataset(
        labeled=dict(type='RepeatDataset', times=2, dataset=labeled),
        unlabeled=unlabeled)
    sampler = DATA_SAMPLERS.build(dict(type='MultiSourceSampler', dataset=dataset,
                                       batch_size=6, source_ratio=[1, 2], seed=0))
    batch = list(sampler)[:6]
    assert all(index < 6 for index in batch[:2])
    assert all(index >= 6 for index in batch[2:])


def test_lazy_init_defers_loading(sources):
    dataset = SemiSupervisedDataset(*sources, lazy_init=True)
    assert not dataset._fully_initialized
    dataset.full_init()
    assert len(dataset) == 8
