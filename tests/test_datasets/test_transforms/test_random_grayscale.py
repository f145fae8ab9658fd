import numpy as np
from mmcv.transforms import RandomGrayscale
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from mmseg.registry import TRANSFORMS

from mmseg_csl.datasets.transforms import TorchvisionRandomGrayscale


def test_grey_image_keeps_three_channels_of_luma():
    img = np.random.default_rng(0).integers(0, 256, (6, 7, 3)).astype(np.uint8)
    out = TorchvisionRandomGrayscale(prob=1.)({'img': img.copy()})['img']
    assert out.shape == (6, 7, 3) and out.dtype == np.uint8
    blue, green, red = np.moveaxis(img.astype(float), 2, 0)
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    for channel in range(3):
        assert np.abs(out[..., channel] - luma).max() <= 1


def test_prob_zero_keeps_image():
    img = np.random.default_rng(0).integers(0, 256, (6, 7, 3)).astype(np.uint8)
    out = TorchvisionRandomGrayscale(prob=0.)({'img': img.copy()})['img']
    np.testing.assert_array_equal(out, img)


def test_configs_get_it_by_its_own_name_and_mmcv_keeps_its_own():
    init_default_scope('mmseg')
    transform = TRANSFORMS.build({'type': 'TorchvisionRandomGrayscale', 'prob': 1.})
    assert type(transform) is TorchvisionRandomGrayscale
    img = np.random.default_rng(0).integers(0, 256, (6, 7, 3)).astype(np.uint8)
    assert transform({'img': img})['img'].shape == (6, 7, 3)
    assert type(TRANSFORMS.build({'type': 'RandomGrayscale'})) is RandomGrayscale


def test_reproducible_under_mmengine_seed_and_labels_untouched():
    transform = TorchvisionRandomGrayscale(prob=0.5)
    img = np.random.default_rng(0).integers(0, 256, (6, 7, 3)).astype(np.uint8)
    label = np.ones((6, 7), np.uint8)

    def grey_pattern(seed):
        set_random_seed(seed)
        outs = [transform({'img': img.copy(), 'gt_seg_map': label})
                for _ in range(20)]
        assert all(out['gt_seg_map'] is label for out in outs)
        return [not np.array_equal(out['img'], img) for out in outs]

    first = grey_pattern(5)
    assert first == grey_pattern(5)
    assert 0 < sum(first) < 20
