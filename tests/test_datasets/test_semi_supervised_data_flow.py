"""One semi-supervised batch from files on disk to the model's input: two mmseg
datasets (labeled, unlabeled without label files), ``MultiBranch`` views,
``MultiSourceSampler``, ``pseudo_collate`` and ``MultiBranchDataPreProcessor``."""
from typing import List

import pytest
import torch
from mmengine.dataset import ConcatDataset, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from mmseg.registry import DATASETS, MODELS
from torch.utils.data import DataLoader

from mmseg_csl.datasets.samplers import MultiSourceSampler
from tests.data_utils import make_tiny_seg_dataset

CROP = (32, 32)
BRANCHES = ['sup', 'unsup_weak', 'unsup_strong1', 'unsup_strong2']
PACK = {
    'type': 'PackSegInputs',
    'meta_keys': ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                  'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                  'reduce_zero_label', 'masked_view')
}
STRONG = [
    {'type': 'TorchvisionColorJitter', 'brightness': 0.5, 'contrast': 0.5,
     'saturation': 0.5, 'hue': 0.25, 'prob': 0.8},
    {'type': 'TorchvisionRandomGrayscale', 'prob': 0.2},
    {'type': 'RandomGaussianBlur', 'sigma_range': (0.1, 2.0), 'prob': 0.5},
]
MILD_MASKED = [
    {'type': 'TorchvisionColorJitter', 'brightness': 0.2, 'contrast': 0.2,
     'saturation': 0.2, 'hue': 0.2, 'prob': 0.8},
    {'type': 'RandomGaussianBlur', 'sigma_range': (0.1, 2.0), 'prob': 0.5},
    {'type': 'AddMetaInfo', 'masked_view': True},
]


def geometric(cat_max_ratio: float) -> List[dict]:
    return [
        {'type': 'RandomResize', 'scale': (50, 40), 'ratio_range': (0.5, 2.0),
         'keep_ratio': True},
        {'type': 'RandomCrop', 'crop_size': CROP,
         'cat_max_ratio': cat_max_ratio},
        {'type': 'RandomFlip', 'prob': 0.5},
    ]


def build_loader(tmp_path) -> DataLoader:
    labeled = DATASETS.build({
        'type': 'BaseSegDataset',
        **make_tiny_seg_dataset(tmp_path / 'labeled', num_images=2, seed=1),
        'pipeline': [
            {'type': 'LoadImageFromFile'},
            {'type': 'LoadAnnotations'},
            *geometric(cat_max_ratio=0.75),
            {'type': 'MultiBranch', 'branch_field': BRANCHES, 'sup': [PACK]},
        ]
    })
    unlabeled = DATASETS.build({
        'type': 'BaseSegDataset',
        **make_tiny_seg_dataset(
            tmp_path / 'unlabeled', num_images=4, with_labels=False, seed=2),
        'pipeline': [
            {'type': 'LoadImageFromFile'},
            *geometric(cat_max_ratio=1.0),
            {
                'type': 'MultiBranch',
                'branch_field': BRANCHES,
                'unsup_weak': [PACK],
                'unsup_strong1': [*STRONG, PACK],
                'unsup_strong2': [{
                    'type': 'RandomChoice',
                    'transforms': [MILD_MASKED, STRONG],
                    'prob': [0.5, 0.5]
                }, PACK],
            },
        ]
    })
    dataset = ConcatDataset([labeled, unlabeled])
    sampler = MultiSourceSampler(
        dataset, batch_size=3, source_ratio=[1, 2], seed=0)
    return DataLoader(
        dataset, batch_size=3, sampler=sampler, collate_fn=pseudo_collate)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


@pytest.fixture(scope='module')
def batches(tmp_path_factory) -> List[dict]:
    """Six preprocessed batches: three epochs of the sampler."""
    init_default_scope('mmseg')
    set_random_seed(0)
    loader = build_loader(tmp_path_factory.mktemp('tiny'))
    preprocessor = MODELS.build({
        'type': 'MultiBranchDataPreProcessor',
        'data_preprocessor': {
            'type': 'SegDataPreProcessor',
            'mean': [123.675, 116.28, 103.53],
            'std': [58.395, 57.12, 57.375],
            'bgr_to_rgb': True,
            'size': CROP
        }
    })
    out = []
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)
        out += [preprocessor(data, training=True) for data in loader]
    return out


def test_branch_shapes_labels_and_padding(batches):
    assert len(batches) == 6
    padded_views = 0
    for batch in batches:
        assert set(batch['inputs']) == set(BRANCHES)
        assert batch['inputs']['sup'].shape == (1, 3, *CROP)
        sup_sample = batch['data_samples']['sup'][0]
        height, width = sup_sample.img_shape
        label = sup_sample.gt_sem_seg.data
        assert label.shape == (1, *CROP)
        assert label[:, height:].eq(255).all() and label[:, :, width:].eq(255).all()
        assert label[:, :height, :width].lt(3).all()
        for branch in BRANCHES[1:]:
            assert batch['inputs'][branch].shape == (2, 3, *CROP)
            for image, sample in zip(batch['inputs'][branch],
                                     batch['data_samples'][branch]):
                assert 'gt_sem_seg' not in sample
                assert tuple(sample.pad_shape) == CROP
                height, width = sample.img_shape
                assert image[:, height:].eq(0).all()
                assert image[:, :, width:].eq(0).all()
                padded_views += (height, width) != CROP
    assert padded_views > 0


def test_views_share_geometry_but_not_photometry(batches):
    aligned, flipped, changed = [], [], 0
    for batch in batches:
        weak_samples = batch['data_samples']['unsup_weak']
        for i, weak_sample in enumerate(weak_samples):
            height, width = weak_sample.img_shape
            weak = batch['inputs']['unsup_weak'][i, :, :height, :width]
            for branch in ('unsup_strong1', 'unsup_strong2'):
                sample = batch['data_samples'][branch][i]
                assert sample.img_path == weak_sample.img_path
                assert sample.img_shape == weak_sample.img_shape
                assert sample.flip == weak_sample.flip
                strong = batch['inputs'][branch][i, :, :height, :width]
                aligned.append(correlation(weak.mean(0), strong.mean(0)))
                flipped.append(
                    correlation(weak.mean(0), strong.mean(0).flip(-1)))
                changed += not torch.allclose(weak, strong)
    assert min(aligned) > 0.8
    # misaligned views would show: mirrored ones correlate far less
    assert sum(flipped) / len(flipped) < 0.6
    assert changed > len(aligned) / 2


def test_masked_view_tag_marks_some_second_strong_views(batches):
    tags = [
        sample.metainfo.get('masked_view', False) for batch in batches
        for sample in batch['data_samples']['unsup_strong2']
    ]
    assert 0 < sum(tags) < len(tags)
    assert not any('masked_view' in sample for batch in batches
                   for branch in ('unsup_weak', 'unsup_strong1')
                   for sample in batch['data_samples'][branch])
