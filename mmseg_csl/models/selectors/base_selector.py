from abc import ABCMeta, abstractmethod
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..utils.precision import compute_dtype
from .confidence_features import RESIDUAL_FORMS, ConfidenceFeatures, confidence_features
from .selection_result import SelectionResult


class NonFiniteProbabilitiesError(ValueError):
    """The probabilities given to a selector hold NaN: the prediction they
    come from is not finite."""


class BaseSelector(metaclass=ABCMeta):
    """Turns weak-view class probabilities into pseudo-labels and per-pixel weights
    (docs/method.md, section 2).

    ``selector(probs, valid)`` checks its input, computes the per-pixel confidence
    features (maximum confidence and scaled residual variance) in one pass over the
    class dimension, and leaves the decision to :meth:`select`. Nothing here tracks
    gradients.

    Args:
        residual (str): ``'reference'`` or ``'exact'`` form of the residual variance.
        g_alpha (float): scale of the residual variance.
        eps (float): stabiliser of the variance scale and of the z-scores.
        use_kernels (bool): compute with the compiled kernels of
            :mod:`mmseg_csl.ops` where they are built for the input's device
            (CPU; CUDA where nvcc built them), the default. False keeps the
            PyTorch path, which every device runs; both give the same values up
            to rounding.
    """

    # Whether the selection decides in (log c, -s) rather than (c, s).
    log_points: bool = False

    def __init__(self, residual: str = 'reference', g_alpha: float = 1.0,
                 eps: float = 1e-8, use_kernels: bool = True) -> None:
        if eps <= 0:
            raise ValueError(f'eps must be positive, got {eps}')
        if residual not in RESIDUAL_FORMS:
            raise ValueError(
                f'residual must be one of {RESIDUAL_FORMS}, got {residual!r}')
        self.residual = residual
        self.g_alpha = g_alpha
        self.eps = eps
        self.use_kernels = use_kernels

    @torch.no_grad()
    def __call__(self, probs: Tensor, valid: Optional[Tensor] = None,
                 from_logits: bool = False) -> SelectionResult:
        """Select pseudo-labels.

        Args:
            probs (Tensor): (B, K, H, W) softmax probabilities of the weak view, any
                float dtype; logits when ``from_logits`` is True.
            valid (Tensor, optional): (B, H, W) bool, False on padded or ignored
                pixels. None means every pixel is valid.
            from_logits (bool): apply a softmax over K first.

        Returns:
            SelectionResult: weights, reliable mask, pseudo-labels and statistics.
        """
        probs, valid = check_inputs(probs, valid, from_logits)
        batch, _, height, width = probs.shape
        flat_valid = valid.reshape(batch, -1)
        features = confidence_features(probs, valid, self.residual, self.g_alpha,
                                       self.eps, self.use_kernels)
        # The selection is queued before the value check, whose read of the
        # summary waits for the device: on a GPU it then runs while the host
        # waits instead of after. A failed check discards it.
        weight, center, center_var = self.select(features, flat_valid)
        reliable = weight == 1
        check_values(features.summary, probs, valid, from_logits)

        def as_map(x: Tensor) -> Tensor:
            return x.reshape(batch, height, width)

        return SelectionResult(
            weight=as_map(weight),
            reliable=as_map(reliable),
            pseudo_label=as_map(features.pseudo_label),
            max_conf=as_map(features.max_conf),
            res_var=as_map(features.res_var),
            center=center,
            center_var=center_var,
            log_points=self.log_points)

    @abstractmethod
    def select(self, features: ConfidenceFeatures,
               valid: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Decide the weights from the pixels' confidence features.

        Args:
            features (ConfidenceFeatures): (B, N) each, in the compute dtype
                (float64 for float64 input, float32 otherwise).
            valid (Tensor): (B, N) bool.

        Returns:
            tuple: weight (B, N) of the compute dtype, 0 on invalid pixels,
            center (B, 2) and center_var (B, 2) of the selected/reliable pixels,
            in the coordinates the selector decides in (see
            :attr:`SelectionResult.log_points`).
        """


def check_inputs(probs: Tensor, valid: Optional[Tensor],
                 from_logits: bool) -> Tuple[Tensor, Tensor]:
    """Check shapes, dtypes, devices and value range; return (probs, valid)."""
    if not isinstance(probs, Tensor) or not probs.is_floating_point():
        raise TypeError('probs must be a floating point tensor, got '
                        f'{getattr(probs, "dtype", type(probs))}')
    if probs.dim() != 4:
        raise ValueError('probs must have shape (B, K, H, W), got '
                         f'{tuple(probs.shape)}')
    batch, num_classes, height, width = probs.shape
    if num_classes < 2:
        raise ValueError(
            f'probs needs at least 2 classes (K >= 2), got K={num_classes}')
    if valid is None:
        valid = probs.new_ones((batch, height, width), dtype=torch.bool)
    elif valid.dtype != torch.bool:
        raise TypeError(f'valid must be a bool tensor, got {valid.dtype}')
    elif valid.shape != (batch, height, width):
        raise ValueError(
            f'valid has shape {tuple(valid.shape)}, expected '
            f'{(batch, height, width)} to match probs {tuple(probs.shape)}')
    if valid.device != probs.device:
        raise ValueError(f'probs is on {probs.device} but valid is on {valid.device}')
    if from_logits:
        probs = probs.softmax(dim=1, dtype=compute_dtype(probs.dtype))
    return probs, valid


def check_values(summary: Tensor, probs: Tensor, valid: Tensor,
                 from_logits: bool) -> None:
    """Raise on NaN (:class:`NonFiniteProbabilitiesError`), on values outside
    [0, 1] and on a valid pixel whose class probabilities do not sum to 1,
    judged from the (4,) summary of :class:`ConfidenceFeatures`; the offending
    pixel is located only then. The sum tolerance follows the input precision:
    a few units of its rounding error."""
    low, high, worst_error, has_nan = summary.tolist()
    if has_nan:
        raise NonFiniteProbabilitiesError('probs contains NaN')
    if not from_logits and (low < 0 or high > 1):
        raise ValueError('probs must lie in [0, 1] (softmax probabilities; pass '
                         f'from_logits=True for logits), got values in '
                         f'[{low:.4g}, {high:.4g}]')
    tolerance = max(1e-5, 4 * torch.finfo(probs.dtype).eps)
    if worst_error > tolerance:
        sums = probs.sum(dim=1, dtype=torch.float64)
        worst = int((sums - 1).abs_().mul_(valid).argmax())
        image, row, col = torch.unravel_index(torch.tensor(worst), sums.shape)
        raise ValueError(
            'probs must sum to 1 over the class dimension on valid pixels: image '
            f'{int(image)}, pixel ({int(row)}, {int(col)}) sums to '
            f'{sums.flatten()[worst].item():.6g} '
            f'(tolerance {tolerance:.1g}); pass from_logits=True for logits')
