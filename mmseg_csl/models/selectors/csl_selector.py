from typing import Dict, NamedTuple, Optional, Tuple

import torch
from mmseg.registry import TASK_UTILS
from torch import Tensor

from mmseg_csl.ops import kernels_for

from .base_selector import BaseSelector
from .cluster_statistics import masked_moments, no_pixel_fallback
from .confidence_features import ConfidenceFeatures


class CSLVariant(NamedTuple):
    """What distinguishes one released version of CSL's selection.

    Attributes:
        alpha (float): default width ``a`` of the Gaussian fall-off.
        eps (float): default stabiliser of the variance scale and of the z-scores.
        log_points (bool): cluster (log c, -s) instead of (c, s).
    """

    alpha: float
    eps: float
    log_points: bool


@TASK_UTILS.register_module()
class CSLSelector(BaseSelector):
    """Confidence Separable Learning pseudo-label selection.

    From "When Confidence Fails: Revisiting Pseudo-Label Selection in
    Semi-supervised Semantic Segmentation" (Liu & Liu, ICCV 2025, arXiv
    2509.16704); ``docs/method.md`` states it formula by formula.

    Each image's valid pixels are points built from their maximum confidence c and
    scaled residual variance s. A two-way spectral split (the trace-maximisation
    relaxation of k-means, solved through the 2 x 2 Gram matrix X^T X instead of an
    N-sized SVD) separates them; of the non-empty clusters, the one with the larger
    mean of the first coordinate is the reliable one. With (mu, var) its mean and
    unbiased variance, ``z_1 = (x_1 - mu_1) / sqrt(var_1 + eps)`` and
    ``z_2 = (mu_2 - x_2) / sqrt(var_2 + eps)``; pixels with ``z_1 > 0`` or
    ``z_2 > 0`` get weight 1, the others ``exp(-z_1^2 / alpha) * exp(-z_2^2 /
    alpha)``, invalid pixels 0.

    The authors released two versions whose selection differs; ``variant`` picks
    one by name (:attr:`VARIANTS`):

    - ``'release'``: the CSL release (masking off). Points (c, s), alpha 2,
      eps 1e-8: higher confidence or lower residual variance than the reliable
      centre is reliable.
    - ``'masking'``: the version with the paper's random masking of reliable
      pixels. Points (log c, -s), alpha 8, eps 1e-10. The negated second
      coordinate flips the sense of ``z_2``, so nearly every pixel is reliable
      (every valid one for K = 2).

    ``selector(probs, valid)`` takes (B, K, H, W) probabilities and (B, H, W)
    validity (see :class:`BaseSelector`) and returns a :class:`SelectionResult`
    of (B, H, W) maps and (B, 2) centres. Its ``max_conf`` and ``res_var`` hold c
    and s for both variants; ``center`` and ``center_var`` are in the variant's
    point space.

    Args:
        variant (str): ``'release'`` (default) or ``'masking'``.
        alpha (float, optional): width ``a`` of the Gaussian fall-off; None takes
            the variant's.
        eps (float, optional): stabiliser of the variance scale
            ``(K - 1)^2 / (2 (1 - c + eps))`` and of the z-scores; None takes the
            variant's.
        g_alpha (float): scale of the residual variance.
        residual (str): ``'reference'`` (as the released code) or ``'exact'``.
        use_kernels (bool): see :class:`BaseSelector`.
    """

    VARIANTS: Dict[str, CSLVariant] = {
        'release': CSLVariant(alpha=2.0, eps=1e-8, log_points=False),
        'masking': CSLVariant(alpha=8.0, eps=1e-10, log_points=True),
    }

    def __init__(self, variant: str = 'release', alpha: Optional[float] = None,
                 eps: Optional[float] = None, g_alpha: float = 1.0,
                 residual: str = 'reference', use_kernels: bool = True) -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f'variant must be one of {tuple(self.VARIANTS)}, got '
                             f'{variant!r}')
        defaults = self.VARIANTS[variant]
        super().__init__(residual=residual, g_alpha=g_alpha,
                         eps=defaults.eps if eps is None else eps,
                         use_kernels=use_kernels)
        self.variant = variant
        self.alpha = defaults.alpha if alpha is None else alpha
        if self.alpha <= 0:
            raise ValueError(f'alpha must be positive, got {self.alpha}')
        self.log_points = defaults.log_points

    def points(self, features: ConfidenceFeatures,
               valid: Tensor) -> Tuple[Tensor, Tensor]:
        """The coordinates that the split clusters, (B, N) each: (c, s), or
        (log c, -s) for the masking variant.

        log c is computed as log(1 - r) from the residual mass r, which keeps the
        precision that c loses near 1 in float32 (and that the direction of such
        a point, close to the origin, needs). It reads 0 on invalid pixels, whose
        probabilities may be anything in [0, 1] (r > 1 included); :meth:`select`
        ignores them.
        """
        if not self.log_points:
            return features.max_conf, features.res_var
        log_conf = torch.where(valid, features.residual_mass, 0).neg_().log1p_()
        return log_conf, features.res_var.neg()

    def select(self, features: ConfidenceFeatures,
               valid: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        kernels = kernels_for(features.max_conf) if self.use_kernels else None
        if kernels is not None:
            # The kernels compute the (log c, -s) points as they read the features.
            x1 = features.residual_mass if self.log_points else features.max_conf
            return tuple(kernels.csl_weights(x1, features.res_var, valid,
                                             self.alpha, self.eps, self.log_points))
        x1, x2 = self.points(features, valid)
        member = valid.to(x1.dtype)
        conf, var = x1 * member, x2 * member
        conf_sq, var_sq = conf.square(), var.square()
        gram = torch.stack((conf_sq.sum(dim=1), torch.linalg.vecdot(conf, var),
                            var_sq.sum(dim=1)), dim=1)
        in_second = spectral_split(conf, var, gram).to(member.dtype)
        first = masked_moments(member - in_second, conf, var, conf_sq, var_sq)
        second = masked_moments(in_second, conf, var, conf_sq, var_sq)
        pick_second = reliable_is_second(first[0], first[1], second[0],
                                         second[1]).unsqueeze(1)
        center = torch.where(pick_second, second[1], first[1])
        center_var = torch.where(pick_second, second[2], first[2])
        center, center_var = no_pixel_fallback(first[0] + second[0], center,
                                               center_var)
        inv_std = (center_var + self.eps).rsqrt()
        z_conf = (conf - center[:, :1]).mul_(inv_std[:, :1])
        z_var = (center[:, 1:] - var).mul_(inv_std[:, 1:])
        reliable = (z_conf > 0).logical_or_(z_var > 0)
        weight = z_conf.square_().add_(z_var.square_()).mul_(-1 / self.alpha).exp_()
        return weight.masked_fill_(reliable, 1).mul_(member), center, center_var


def reliable_is_second(count_1: Tensor, mean_1: Tensor, count_2: Tensor,
                       mean_2: Tensor) -> Tensor:
    """(B,) bool: whether the second cluster is the reliable one, i.e. it is
    non-empty and the first is empty or has the smaller mean first coordinate
    (ties keep the first). An empty cluster's mean of 0 would otherwise beat every
    log-confidence, which is at most 0.

    Args:
        count_1, count_2 (Tensor): (B,) cluster sizes.
        mean_1, mean_2 (Tensor): (B, 2) cluster means.
    """
    larger = mean_2[:, 0] > mean_1[:, 0]
    return (count_2 > 0) & ((count_1 == 0) | larger)


def spectral_split(conf: Tensor, var: Tensor, gram: Tensor) -> Tensor:
    """Two-way spectral split of each image's points.

    Args:
        conf, var (Tensor): (B, N) coordinates of the points, 0 on invalid pixels.
        gram (Tensor): (B, 3) entries (00, 01, 11) of X^T X.

    Returns:
        Tensor: (B, N) bool, True for pixels of the second cluster, i.e. where
        ``|h_2| > |h_1|`` with ``h_i = X w_i / sqrt(lambda_i)`` for the eigenpairs
        of ``X^T X`` (lambda_1 >= lambda_2); ties and invalid pixels go to the
        first. A rank-one image (lambda_2 = 0) is one cluster.
    """
    first, second, lambda_1, lambda_2 = symmetric_2x2_eigh(gram)
    h_1 = torch.addcmul(conf * first[:, :1], var, first[:, 1:]).abs_()
    h_2 = torch.addcmul(conf * second[:, :1], var, second[:, 1:]).abs_()
    # |x.w1| / sqrt(l1) < |x.w2| / sqrt(l2), multiplied out so that l2 = 0 is safe.
    return h_1.mul_(lambda_2.sqrt().unsqueeze(1)) < h_2.mul_(
        lambda_1.sqrt().unsqueeze(1))


def symmetric_2x2_eigh(gram: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Closed-form eigen-decomposition of symmetric positive semi-definite 2 x 2
    matrices given as (B, 3) entries (a, b, d), without a host sync.

    Returns:
        tuple: unit eigenvectors w1, w2 (B, 2) and eigenvalues lambda_1 >= lambda_2
        >= 0 (B,).
    """
    a, b, d = gram.unbind(dim=1)
    half_trace = (a + d) / 2
    radius = torch.hypot((a - d) / 2, b)
    lambda_1 = half_trace + radius
    lambda_2 = (half_trace - radius).clamp(min=0)
    # (lambda_1 - d, b) and (b, lambda_1 - a) both solve (G - lambda_1) w = 0; the
    # longer of the two is the numerically safe one.
    option_1 = torch.stack((lambda_1 - d, b), dim=-1)
    option_2 = torch.stack((b, lambda_1 - a), dim=-1)
    use_1 = option_1.norm(dim=-1, keepdim=True) >= option_2.norm(dim=-1, keepdim=True)
    first = torch.where(use_1, option_1, option_2)
    norm = first.norm(dim=-1, keepdim=True)
    # A multiple of the identity has every direction as eigenvector: take the axes.
    first = torch.where(norm > 0, first / norm.clamp(min=torch.finfo(norm.dtype).tiny),
                        first.new_tensor([1.0, 0.0]))
    second = torch.stack((-first[:, 1], first[:, 0]), dim=-1)
    return first, second, lambda_1.clamp(min=0), lambda_2
