import copy

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_csl.models.data_preprocessors import MultiBranchDataPreProcessor

MEAN, STD = [10., 20., 30.], [2., 4., 5.]
SEG_PREPROCESSOR = {
    'type': 'SegDataPreProcessor',
    'mean': MEAN,
    'std': STD,
    'bgr_to_rgb': True,
    'pad_val': 0,
    'seg_pad_val': 255,
    'size': (8, 9)
}


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def preprocessor() -> MultiBranchDataPreProcessor:
    return MODELS.build({
        'type': 'MultiBranchDataPreProcessor',
        'data_preprocessor': SEG_PREPROCESSOR
    })


def view(height: int, width: int, tag: str,
         with_label: bool = False) -> tuple:
    """A uint8 image of 3 channels and its data sample, tagged by metainfo."""
    image = torch.randint(1, 256, (3, height, width), dtype=torch.uint8)
    sample = SegDataSample(metainfo={'tag': tag})
    if with_label:
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 3, (1, height, width)))
    return image, sample


def batch(**branches: list) -> dict:
    """``pseudo_collate``'s layout from per-branch lists of views or None."""
    def split(views, part):
        return [None if v is None else v[part] for v in views]
    return {
        'inputs': {b: split(views, 0) for b, views in branches.items()},
        'data_samples': {b: split(views, 1) for b, views in branches.items()}
    }


def normalised(image: torch.Tensor) -> torch.Tensor:
    rgb = image[[2, 1, 0]].float()
    return (rgb - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(
        3, 1, 1)


def test_branches_drop_none_and_pad_bottom_right():
    sup = view(5, 9, 'l0', with_label=True)
    weak = [view(8, 6, 'u0'), view(4, 7, 'u1')]
    data = batch(
        sup=[sup, None, None],
        unsup_weak=[None, *weak],
        unsup_strong2=[None, None, None])
    out = preprocessor()(data, training=True)

    assert set(out['inputs']) == {'sup', 'unsup_weak'}  # no strong2 sample
    assert out['inputs']['sup'].shape == (1, 3, 8, 9)
    assert out['inputs']['unsup_weak'].shape == (2, 3, 8, 9)
    assert [s.tag for s in out['data_samples']['unsup_weak']] == ['u0', 'u1']
    for padded, (image, _), sample in zip(out['inputs']['unsup_weak'], weak,
                                          out['data_samples']['unsup_weak']):
        height, width = image.shape[1:]
        assert tuple(sample.img_shape) == (height, width)
        assert tuple(sample.pad_shape) == (8, 9)
        assert 'gt_sem_seg' not in sample
        torch.testing.assert_close(padded[:, :height, :width],
                                   normalised(image))
        assert padded[:, height:].eq(0).all() and padded[:, :, width:].eq(0).all()

    sup_sample = out['data_samples']['sup'][0]
    assert tuple(sup_sample.img_shape) == (5, 9)
    label = sup_sample.gt_sem_seg.data
    assert label.shape == (1, 8, 9)
    assert torch.equal(label[:, :5], sup[1].gt_sem_seg.data[:, :5])
    assert label[:, 5:].eq(255).all()


def test_a_plain_batch_goes_to_the_wrapped_preprocessor():
    views = [view(6, 9, 'a', True), view(8, 7, 'b', True)]
    plain = {
        'inputs': [image for image, _ in views],
        'data_samples': [sample for _, sample in views]
    }
    inner = MODELS.build(SEG_PREPROCESSOR)
    out = preprocessor()(copy.deepcopy(plain), training=True)
    expected = inner(copy.deepcopy(plain), training=True)
    torch.testing.assert_close(out['inputs'], expected['inputs'])
    assert [s.metainfo for s in out['data_samples']] == [
        s.metainfo for s in expected['data_samples']
    ]

    same_size = {'inputs': [views[0][0]], 'data_samples': [views[0][1]]}
    out = preprocessor()(same_size, training=False)
    torch.testing.assert_close(out['inputs'],
                               inner(same_size, training=False)['inputs'])


def test_multi_branch_batch_outside_training_is_stacked_per_branch():
    data = batch(unsup_weak=[view(8, 9, 'u0'), view(8, 9, 'u1')])
    out = preprocessor()(data, training=False)
    assert out['inputs']['unsup_weak'].shape == (2, 3, 8, 9)


def test_branch_without_matching_data_samples_is_an_error():
    data = batch(unsup_weak=[view(8, 9, 'u0'), None])
    data['data_samples']['unsup_weak'] = data['data_samples']['unsup_weak'][:1]
    with pytest.raises(ValueError, match="branch 'unsup_weak' has 2 inputs"):
        preprocessor()(data, training=True)


def test_wrapped_preprocessor_must_pad():
    config = {k: v for k, v in SEG_PREPROCESSOR.items() if k != 'size'}
    with pytest.raises(ValueError, match='set `size`'):
        MultiBranchDataPreProcessor(config)


class TinyModel(BaseModel):

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return inputs


@pytest.mark.parametrize('owner', ['preprocessor', 'model'])
def test_follows_the_model_to_its_device(owner):
    model = TinyModel(data_preprocessor={
        'type': 'MultiBranchDataPreProcessor',
        'data_preprocessor': SEG_PREPROCESSOR
    })
    wrapper = model.data_preprocessor
    (model if owner == 'model' else wrapper).to('meta')
    assert wrapper.device == torch.device('meta')
    assert wrapper.data_preprocessor.device == torch.device('meta')
    assert wrapper.cast_data({'x': torch.zeros(1)})['x'].is_meta
    out = wrapper(batch(sup=[view(6, 9, 'l0', True)]), training=True)
    assert out['inputs']['sup'].is_meta
    assert out['data_samples']['sup'][0].gt_sem_seg.data.is_meta
