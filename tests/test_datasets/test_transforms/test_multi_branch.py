import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample

from mmseg_csl.datasets.transforms import MultiBranch

BRANCHES = ['sup', 'unsup_weak', 'unsup_strong1', 'unsup_strong2']


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def make_results() -> dict:
    img = np.random.default_rng(0).integers(0, 256, (6, 8, 3)).astype(np.uint8)
    return {
        'img': img,
        'gt_seg_map': np.ones((6, 8), np.uint8),
        'img_shape': (6, 8),
        'seg_fields': ['gt_seg_map']
    }


def blacken(results: dict) -> dict:
    results['img'][:] = 0
    return results


def test_registered_after_importing_mmseg_csl():
    assert TRANSFORMS.get('MultiBranch') is MultiBranch


def test_missing_branches_are_none():
    transform = TRANSFORMS.build({
        'type': 'MultiBranch',
        'branch_field': BRANCHES,
        'unsup_weak': [{'type': 'PackSegInputs'}],
        'unsup_strong1': [blacken, {'type': 'PackSegInputs'}],
    })
    results = make_results()
    out = transform(results)
    assert set(out['inputs']) == set(BRANCHES) == set(out['data_samples'])
    for branch in ('sup', 'unsup_strong2'):
        assert out['inputs'][branch] is None
        assert out['data_samples'][branch] is None
    weak, strong = out['inputs']['unsup_weak'], out['inputs']['unsup_strong1']
    assert weak.shape == (3, 6, 8) and weak.dtype == torch.uint8
    assert isinstance(out['data_samples']['unsup_weak'], SegDataSample)
    assert out['data_samples']['unsup_weak'].metainfo['img_shape'] == (6, 8)
    # the in-place change of one branch reaches neither the other branch
    # nor the input
    assert strong.eq(0).all()
    assert torch.equal(weak, torch.from_numpy(results['img']).permute(2, 0, 1))
    assert results['img'].any()


def test_a_dropped_branch_drops_the_sample():
    transform = MultiBranch(
        branch_field=['sup'], sup=[lambda results: None])
    assert transform(make_results()) is None


def test_branch_must_end_with_pack():
    transform = MultiBranch(branch_field=['sup'], sup=[blacken])
    with pytest.raises(ValueError, match="'sup' must end with PackSegInputs"):
        transform(make_results())


def test_rejects_branches_outside_branch_field():
    with pytest.raises(ValueError, match=r"\['unsup'\] are not in"):
        MultiBranch(branch_field=['sup'], unsup=[])
    with pytest.raises(ValueError, match='at least one branch'):
        MultiBranch(branch_field=['sup'])
