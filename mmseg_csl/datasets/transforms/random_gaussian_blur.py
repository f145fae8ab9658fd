import math
from typing import Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """Blur the image with a Gaussian of random width, with probability ``prob``.

    The standard deviation is drawn uniformly from ``sigma_range`` (pixels);
    the square kernel spans three sigmas on each side, ``2 * ceil(3 sigma) + 1``
    pixels, like the PIL blur of radius sigma in UniMatch's strong views
    (docs/method.md, sections 4 and 5).
    Label maps are untouched. Randomness comes from numpy's global generator.

    Required keys: img. Modified keys: img.

    Args:
        sigma_range (tuple[float, float]): Range of the standard deviation.
            Defaults to (0.1, 2.0).
        prob (float): Probability of blurring. Defaults to 0.5.
    """

    def __init__(self,
                 sigma_range: Tuple[float, float] = (0.1, 2.0),
                 prob: float = 0.5) -> None:
        low, high = sigma_range
        if not 0 < low <= high:
            raise ValueError('RandomGaussianBlur sigma_range must satisfy '
                             f'0 < low <= high, got {sigma_range}')
        if not 0 <= prob <= 1:
            raise ValueError(
                f'RandomGaussianBlur prob must be in [0, 1], got {prob}')
        self.sigma_range = (low, high)
        self.prob = prob

    @cache_randomness
    def _random_sigma(self) -> Optional[float]:
        """The sigma to blur with, or None to leave the image as it is."""
        if np.random.rand() >= self.prob:
            return None
        return np.random.uniform(*self.sigma_range)

    def transform(self, results: dict) -> dict:
        sigma = self._random_sigma()
        if sigma is not None:
            ksize = 2 * math.ceil(3 * sigma) + 1
            results['img'] = cv2.GaussianBlur(
                results['img'], (ksize, ksize), sigmaX=sigma, sigmaY=sigma)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(sigma_range={self.sigma_range}, '
                f'prob={self.prob})')
