from functools import partial
from typing import Callable, List, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

Adjustment = Callable[[np.ndarray, float], np.ndarray]


def shift_hue(img: np.ndarray, shift: float) -> np.ndarray:
    """Rotate the hue of a uint8 BGR image by ``shift`` turns (in [-0.5, 0.5]).

    ``mmcv.adjust_hue`` cannot take a negative shift under numpy 2 (it casts
    the negative offset to uint8), hence this small version of it.
    """
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)
    hue = hsv[..., 0].astype(np.int32) + int(round(shift * 255))
    hsv[..., 0] = np.mod(hue, 256).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)


@TRANSFORMS.register_module()
class TorchvisionColorJitter(BaseTransform):
    """Randomly change brightness, contrast, saturation and hue of the image.

    torchvision's ``ColorJitter`` for the uint8 BGR images (H, W, 3) that mmcv
    loads: the brightness, contrast and saturation factors are drawn uniformly
    from ``[max(0, 1 - s), 1 + s]`` for strength ``s``, the hue shift from
    ``[-hue, hue]`` (in turns of the hue circle), and the adjustments run in a
    random order. A strength of 0 leaves that adjustment out. The whole jitter
    happens with probability ``prob`` (torchvision's ``RandomApply``), so the
    strong views of semi-supervised training read
    ``TorchvisionColorJitter(0.5, 0.5, 0.5, 0.25, prob=0.8)`` (docs/method.md,
    section 5). Label maps are
    untouched. Randomness comes from numpy's global generator (seeded by
    mmengine). The name is this package's own: mmcv and mmseg have no
    ``ColorJitter``, and other OpenMMLab libraries register theirs, with other
    behaviour, under that name.

    Required keys: img. Modified keys: img.

    Args:
        brightness (float): Strength of the brightness change, >= 0.
        contrast (float): Strength of the contrast change, >= 0.
        saturation (float): Strength of the saturation change, >= 0.
        hue (float): Largest hue shift in turns, in [0, 0.5].
        prob (float): Probability of jittering at all. Defaults to 1.
    """

    def __init__(self,
                 brightness: float = 0.,
                 contrast: float = 0.,
                 saturation: float = 0.,
                 hue: float = 0.,
                 prob: float = 1.) -> None:
        strengths = {
            'brightness': brightness,
            'contrast': contrast,
            'saturation': saturation
        }
        for name, strength in strengths.items():
            if strength < 0:
                raise ValueError(f'TorchvisionColorJitter {name} must be '
                                 f'>= 0, got {strength}')
        if not 0 <= hue <= 0.5:
            raise ValueError('TorchvisionColorJitter hue must be in [0, 0.5], '
                             f'got {hue}')
        if not 0 <= prob <= 1:
            raise ValueError('TorchvisionColorJitter prob must be in [0, 1], '
                             f'got {prob}')
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.prob = prob
        ranges = [
            (partial(mmcv.adjust_brightness, backend='cv2'), brightness),
            (partial(mmcv.adjust_contrast, backend='cv2'), contrast),
            (partial(mmcv.adjust_color, backend='cv2'), saturation),
        ]
        self._adjustments: List[Tuple[Adjustment, float, float]] = [
            (adjust, max(0., 1. - strength), 1. + strength)
            for adjust, strength in ranges if strength > 0
        ]
        if hue > 0:
            self._adjustments.append((shift_hue, -hue, hue))

    @cache_randomness
    def _random_adjustments(self) -> List[Tuple[Adjustment, float]]:
        """Draw whether to jitter, then the order and the factor of each
        adjustment; an empty list means the image stays as it is."""
        if np.random.rand() >= self.prob:
            return []
        order = np.random.permutation(len(self._adjustments))
        return [(self._adjustments[i][0],
                 np.random.uniform(*self._adjustments[i][1:])) for i in order]

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError('TorchvisionColorJitter expects a uint8 (H, W, 3) '
                             f"BGR image in results['img'], got {img.dtype} "
                             f'{img.shape}')
        for adjust, factor in self._random_adjustments():
            img = adjust(img, factor)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, '
                f'hue={self.hue}, prob={self.prob})')
