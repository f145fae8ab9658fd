import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_csl.models import PixelPadSegDataPreProcessor, ReliableBlockMasking
from mmseg_csl.models.segmentors.semi_segmentor import _valid_mask

MEAN, STD = [10., 20., 30.], [2., 4., 5.]
CROP = (8, 9)


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def build(**kwargs) -> PixelPadSegDataPreProcessor:
    cfg = dict(type='PixelPadSegDataPreProcessor', mean=MEAN, std=STD,
               bgr_to_rgb=True, seg_pad_val=255, size=CROP)
    return MODELS.build({**cfg, **kwargs})


def sample(height: int, width: int, with_label: bool = True) -> tuple:
    image = torch.randint(1, 256, (3, height, width), dtype=torch.uint8)
    data_sample = SegDataSample()
    if with_label:
        data_sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, height, width)))
    return image, data_sample


def batch(*samples) -> dict:
    return {'inputs': [s[0] for s in samples], 'data_samples': [s[1] for s in samples]}


def expected_black() -> torch.Tensor:
    return ((0 - torch.tensor(MEAN)) / torch.tensor(STD)).view(3, 1)


def test_images_smaller_than_the_crop_are_padded_with_black():
    small, full = sample(5, 6), sample(*CROP)
    mmseg = MODELS.build(dict(type='SegDataPreProcessor', mean=MEAN, std=STD,
                              bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=CROP))
    ours = build()(batch(small, full), training=True)
    theirs = mmseg(batch(small, full), training=True)

    inputs = ours['inputs']
    padding = torch.ones(*CROP, dtype=torch.bool)
    padding[:5, :6] = False
    padded = inputs[0][:, padding]
    assert torch.equal(padded, expected_black().expand_as(padded))
    # The image itself, the unpadded crop and the labels are mmseg's.
    assert torch.equal(inputs[0][:, ~padding], theirs['inputs'][0][:, ~padding])
    assert torch.equal(inputs[1], theirs['inputs'][1])
    label = ours['data_samples'][0].gt_sem_seg.data[0]
    assert (label[padding] == 255).all()
    assert tuple(ours['data_samples'][0].img_shape) == (5, 6)
    # mmseg pads with the mean colour instead.
    assert (theirs['inputs'][0][:, padding] == 0).all()


def test_unlabeled_views_are_padded_black_and_padding_stays_invalid():
    views = [sample(4, 9, with_label=False), sample(8, 3, with_label=False)]
    wrapper = MODELS.build(dict(
        type='MultiBranchDataPreProcessor',
        data_preprocessor=dict(type='PixelPadSegDataPreProcessor', mean=MEAN,
                               std=STD, bgr_to_rgb=True, size=CROP)))
    out = wrapper({'inputs': {'unsup_weak': [v[0] for v in views]},
                   'data_samples': {'unsup_weak': [v[1] for v in views]}},
                  training=True)
    images, samples = out['inputs']['unsup_weak'], out['data_samples']['unsup_weak']

    valid = _valid_mask(samples, images.shape[2:], images.device)
    assert valid.sum(dim=(1, 2)).tolist() == [4 * 9, 8 * 3]
    for image, image_valid in zip(images, valid):
        padded = image[:, ~image_valid]
        assert torch.equal(padded, expected_black().expand_as(padded))


def test_masked_blocks_stay_the_mean_colour_beside_black_padding():
    image, data_sample = sample(5, 9, with_label=False)
    images = build()(batch((image, data_sample)), training=True)['inputs']
    reliable = torch.zeros(1, *CROP, dtype=torch.bool)
    reliable[:, :5] = True
    masked, mask = ReliableBlockMasking(block_size=2, ratio=1.0)(images, reliable)
    assert mask[0, :5].all()
    assert (masked[0][:, mask[0]] == 0).all()
    padded = masked[0][:, 5:]
    assert torch.equal(padded, expected_black().view(3, 1, 1).expand_as(padded))


def test_test_time_padding_is_filled_too():
    preprocessor = build(size=None, test_cfg=dict(size_divisor=4))
    image, data_sample = sample(5, 6)
    out = preprocessor(batch((image, data_sample)), training=False)
    assert out['inputs'].shape[-2:] == (8, 8)
    assert [int(p) for p in out['data_samples'][0].img_padding_size] == [0, 2, 0, 3]
    assert torch.equal(out['inputs'][0][:, 5:, :],
                       expected_black().view(3, 1, 1).expand(3, 3, 8))
    assert torch.equal(out['inputs'][0][:, :, 6:],
                       expected_black().view(3, 1, 1).expand(3, 8, 2))


def test_per_channel_colour_in_the_channel_order_after_conversion():
    preprocessor = build(pixel_pad_val=[255, 0, 128])
    out = preprocessor(batch(sample(7, 9)), training=True)
    colour = (torch.tensor([255., 0., 128.]) - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.equal(out['inputs'][0][:, 7], colour.view(3, 1).expand(3, 9))


@pytest.mark.parametrize('kwargs, message', [
    (dict(pad_val=0), 'takes no `pad_val`'),
    (dict(batch_augments=[dict(type='SomeAugment')]), 'takes no `batch_augments`'),
    (dict(pixel_pad_val=[0, 0]), 'pixel_pad_val has 2 values'),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)
