import cv2
import numpy as np
import pytest
from mmengine.runner import set_random_seed

from mmseg_csl.datasets.transforms import RandomGaussianBlur


def impulse(size: int = 31) -> np.ndarray:
    img = np.zeros((size, size, 3), np.float32)
    img[size // 2, size // 2] = 1.
    return img


def test_kernel_spans_three_sigmas():
    out = RandomGaussianBlur(sigma_range=(1.5, 1.5), prob=1.)(
        {'img': impulse()})['img'][..., 0]
    kernel_1d = cv2.getGaussianKernel(11, 1.5)  # 2 * ceil(3 * 1.5) + 1
    np.testing.assert_allclose(out[10:21, 10:21], kernel_1d @ kernel_1d.T,
                               atol=1e-6)
    assert out.sum() == pytest.approx(1., abs=1e-5)
    assert np.count_nonzero(out) == 11 * 11


def test_sigma_drawn_from_range():
    transform = RandomGaussianBlur(sigma_range=(0.5, 1.0), prob=1.)
    rows, cols = np.mgrid[-15:16, -15:16]
    sigmas = []
    for seed in range(20):
        np.random.seed(seed)
        out = transform({'img': impulse()})['img'][..., 0]
        sigmas.append(np.sqrt((out * rows**2).sum() / out.sum()))
    assert 0.45 <= min(sigmas) and max(sigmas) <= 1.0
    assert max(sigmas) - min(sigmas) > 0.2


def test_prob_sets_how_often_the_image_blurs():
    transform = RandomGaussianBlur(prob=0.5)
    img = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    blurred = []
    for seed in range(200):
        np.random.seed(seed)
        blurred.append(not np.array_equal(transform({'img': img})['img'], img))
    assert 0.4 < np.mean(blurred) < 0.6


def test_reproducible_under_mmengine_seed_and_labels_untouched():
    transform = RandomGaussianBlur(prob=1.)
    img = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    label = np.eye(8, dtype=np.uint8)

    def run(seed):
        set_random_seed(seed)
        return transform({'img': img.copy(), 'gt_seg_map': label.copy()})

    first, again, other = run(1), run(1), run(2)
    np.testing.assert_array_equal(first['img'], again['img'])
    assert not np.array_equal(first['img'], other['img'])
    np.testing.assert_array_equal(first['gt_seg_map'], label)


@pytest.mark.parametrize('kwargs', [
    {'sigma_range': (0., 1.)},
    {'sigma_range': (2., 1.)},
    {'prob': -0.1},
])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match='RandomGaussianBlur'):
        RandomGaussianBlur(**kwargs)
