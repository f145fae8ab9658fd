import cv2
import numpy as np
import pytest
from mmengine.runner import set_random_seed

from mmseg_csl.datasets.transforms import TorchvisionColorJitter


def colourful_image(low: int = 20, high: int = 236) -> np.ndarray:
    return np.random.default_rng(0).integers(
        low, high, (12, 16, 3)).astype(np.uint8)


def jitter(transform: TorchvisionColorJitter, img: np.ndarray, seed: int) -> np.ndarray:
    np.random.seed(seed)
    return transform({'img': img.copy()})['img']


def test_brightness_scales_by_a_factor_within_range():
    transform = TorchvisionColorJitter(brightness=0.5)
    img = np.full((4, 4, 3), 100, np.uint8)
    values = [jitter(transform, img, seed)[0, 0, 0] for seed in range(100)]
    # factor in [0.5, 1.5], uint8 conversion truncates
    assert min(values) >= 49 and max(values) <= 150
    assert max(values) - min(values) > 70


def test_contrast_blends_with_the_grey_mean():
    transform = TorchvisionColorJitter(contrast=0.5)
    img = np.full((4, 4, 3), 50, np.uint8)
    img[:2] = 150
    for seed in range(20):
        out = jitter(transform, img, seed).astype(int)
        factor = (out[0, 0, 0] - 100) / 50
        assert 0.5 - 0.03 <= factor <= 1.5 + 0.03
        assert abs((100 - out[3, 3, 0]) / 50 - factor) <= 0.03


def test_saturation_keeps_luma():
    transform = TorchvisionColorJitter(saturation=0.5)
    img = colourful_image(60, 196)  # no clipping at 1.5 times the saturation
    luma = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(int)
    spreads = []
    for seed in range(10):
        out = jitter(transform, img, seed)
        out_luma = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(int)
        assert np.abs(out_luma - luma).max() <= 2
        spreads.append(np.ptp(out.astype(int), axis=2).mean())
    assert np.ptp(spreads) > 10


@pytest.mark.parametrize('hue', [0.1, 0.5])
def test_hue_rotates_within_range_both_ways(hue):
    transform = TorchvisionColorJitter(hue=hue)
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 2] = 200
    shifts = []
    for seed in range(40):
        hsv = cv2.cvtColor(jitter(transform, red, seed), cv2.COLOR_BGR2HSV_FULL)
        assert abs(int(hsv[0, 0, 2]) - 200) <= 2  # value kept
        shift = (int(hsv[0, 0, 0]) + 128) % 256 - 128  # signed, in 1/256 turns
        assert abs(shift) <= hue * 256 + 2
        shifts.append(shift)
    assert min(shifts) < -hue * 100 and max(shifts) > hue * 100


def test_adjustments_run_in_random_order():
    transform = TorchvisionColorJitter(0.5, 0.5, 0.5, 0.25)
    orders = set()
    for seed in range(30):
        np.random.seed(seed)
        adjustments = transform._random_adjustments()
        assert len(adjustments) == 4
        orders.add(tuple(id(adjust) for adjust, _ in adjustments))
    assert len(orders) > 5


def test_prob_sets_how_often_the_image_changes():
    transform = TorchvisionColorJitter(0.5, 0.5, 0.5, 0.25, prob=0.8)
    img = colourful_image()
    changed = [
        not np.array_equal(jitter(transform, img, seed), img)
        for seed in range(200)
    ]
    assert 0.7 < np.mean(changed) < 0.9
    never = TorchvisionColorJitter(0.5, 0.5, 0.5, 0.25, prob=0.)
    assert all(
        np.array_equal(jitter(never, img, seed), img) for seed in range(10))


def test_reproducible_under_mmengine_seed_and_labels_untouched():
    transform = TorchvisionColorJitter(0.5, 0.5, 0.5, 0.25, prob=0.8)
    img = colourful_image()
    label = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)

    def run(seed):
        set_random_seed(seed)
        results = {'img': img.copy(), 'gt_seg_map': label.copy()}
        return transform(results)

    first, again, other = run(3), run(3), run(4)
    np.testing.assert_array_equal(first['img'], again['img'])
    assert not np.array_equal(first['img'], other['img'])
    np.testing.assert_array_equal(first['gt_seg_map'], label)


@pytest.mark.parametrize('kwargs, message', [
    ({'brightness': -0.1}, 'brightness'),
    ({'saturation': -1}, 'saturation'),
    ({'hue': 0.6}, 'hue'),
    ({'prob': 1.5}, 'prob'),
])
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TorchvisionColorJitter(**kwargs)


def test_rejects_non_uint8_image():
    with pytest.raises(ValueError, match='uint8'):
        TorchvisionColorJitter(brightness=0.5)({'img': np.zeros((4, 4, 3), np.float32)})
