from typing import Tuple

from mmseg.registry import TASK_UTILS
from torch import Tensor

from .base_selector import BaseSelector
from .cluster_statistics import masked_moments, no_pixel_fallback
from .confidence_features import ConfidenceFeatures


@TASK_UTILS.register_module()
class ThresholdSelector(BaseSelector):
    """Fixed confidence threshold (FixMatch / UniMatch): ``w = 1[max_conf >= tau]``
    (docs/method.md, section 2).

    Same call and result as :class:`CSLSelector`, so configs switch selectors by
    name; ``center`` and ``center_var`` describe the selected pixels.

    Args:
        threshold (float): the confidence threshold tau, in [0, 1].
        residual (str): form of the residual variance reported in ``res_var``.
        use_kernels (bool): see :class:`BaseSelector`.
    """

    def __init__(self, threshold: float = 0.95, residual: str = 'reference',
                 use_kernels: bool = True) -> None:
        super().__init__(residual=residual, use_kernels=use_kernels)
        if not 0 <= threshold <= 1:
            raise ValueError(f'threshold must lie in [0, 1], got {threshold}')
        self.threshold = threshold

    def select(self, features: ConfidenceFeatures,
               valid: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        max_conf, res_var = features.max_conf, features.res_var
        weight = ((max_conf >= self.threshold) & valid).to(max_conf.dtype)
        count, center, center_var = masked_moments(
            weight, max_conf * weight, res_var * weight, max_conf.square(),
            res_var.square())
        return weight, *no_pixel_fallback(count, center, center_var)
