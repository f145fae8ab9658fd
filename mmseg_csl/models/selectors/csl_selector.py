from typing import Tuple

import torch
from mmseg.registry import TASK_UTILS
from torch import Tensor

from mmseg_csl.ops import cpu_kernels_for

from .base_selector import BaseSelector
from .cluster_statistics import masked_moments, no_pixel_fallback


@TASK_UTILS.register_module()
class CSLSelector(BaseSelector):
    """Confidence Separable Learning pseudo-label selection (spec section 2).

    Each image's valid pixels are points x = (max confidence, scaled residual
    variance). A two-way spectral split (the trace-maximisation relaxation of
    k-means, solved through the 2 x 2 Gram matrix X^T X instead of an N-sized SVD)
    separates them; the cluster with the higher mean confidence is the reliable one.
    Pixels on its reliable side (higher confidence or lower residual variance than
    its centre) get weight 1, the others a Gaussian fall-off
    ``exp(-z_c^2 / alpha) * exp(-z_s^2 / alpha)`` of their z-scores.

    Args:
        alpha (float): width ``a`` of the Gaussian fall-off (2; 8 in the masking-ON
            release).
        eps (float): stabiliser of the variance scale and of the z-scores.
        g_alpha (float): scale of the residual variance.
        residual (str): ``'reference'`` (as the released code) or ``'exact'``.
        use_cpu_kernels (bool): see :class:`BaseSelector`.
    """

    def __init__(self, alpha: float = 2.0, eps: float = 1e-8, g_alpha: float = 1.0,
                 residual: str = 'reference', use_cpu_kernels: bool = True) -> None:
        super().__init__(residual=residual, g_alpha=g_alpha, eps=eps,
                         use_cpu_kernels=use_cpu_kernels)
        if alpha <= 0:
            raise ValueError(f'alpha must be positive, got {alpha}')
        self.alpha = alpha

    def select(self, max_conf: Tensor, res_var: Tensor,
               valid: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        kernels = cpu_kernels_for(max_conf) if self.use_cpu_kernels else None
        if kernels is not None:
            return tuple(kernels.csl_weights(max_conf, res_var, valid, self.alpha,
                                             self.eps))
        member = valid.to(max_conf.dtype)
        conf, var = max_conf * member, res_var * member
        conf_sq, var_sq = conf.square(), var.square()
        gram = torch.stack((conf_sq.sum(dim=1), torch.linalg.vecdot(conf, var),
                            var_sq.sum(dim=1)), dim=1)
        in_second = spectral_split(conf, var, gram).to(member.dtype)
        first = masked_moments(member - in_second, conf, var, conf_sq, var_sq)
        second = masked_moments(in_second, conf, var, conf_sq, var_sq)
        pick_second = (second[1][:, :1] > first[1][:, :1])
        center = torch.where(pick_second, second[1], first[1])
        center_var = torch.where(pick_second, second[2], first[2])
        center, center_var = no_pixel_fallback(first[0] + second[0], center,
                                               center_var)
        inv_std = (center_var + self.eps).rsqrt()
        z_conf = (max_conf - center[:, :1]).mul_(inv_std[:, :1])
        z_var = (center[:, 1:] - res_var).mul_(inv_std[:, 1:])
        reliable = (z_conf > 0).logical_or_(z_var > 0)
        weight = z_conf.square_().add_(z_var.square_()).mul_(-1 / self.alpha).exp_()
        return weight.masked_fill_(reliable, 1).mul_(member), center, center_var


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
