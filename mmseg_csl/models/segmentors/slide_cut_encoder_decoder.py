"""The sliding-window evaluation of the CSL reference code as a test mode of
an mmseg ``EncoderDecoder``."""
from typing import Any, List, Optional

import torch
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from ..utils.precision import at_least_float32, compute_dtype

SLIDE_CUT = 'slide_cut'
TEST_MODES = ('whole', 'slide', SLIDE_CUT)
WINDOW_KEYS = ('crop_size', 'stride')


def _is_size_pair(value: Any) -> bool:
    """Whether ``value`` is an (h, w) pair of positive integers."""
    return (isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(side, int) and not isinstance(side, bool) and side > 0
        for side in value))


def check_test_cfg(test_cfg: Optional[dict]) -> None:
    """Raise ValueError naming the key of ``test_cfg`` that
    :class:`SlideCutEncoderDecoder` cannot run: an unknown ``mode``; for the
    windowed modes ('slide', 'slide_cut') a ``crop_size`` or ``stride`` that
    is missing or no pair of positive integers, or a stride longer than the
    window (pixels between two windows would get no prediction)."""
    test_cfg = test_cfg or {}
    mode = test_cfg.get('mode', 'whole')
    if mode not in TEST_MODES:
        raise ValueError(
            f'test_cfg.mode must be one of {TEST_MODES}, got {mode!r}')
    if mode == 'whole':
        return
    for key in WINDOW_KEYS:
        if test_cfg.get(key) is None:
            raise ValueError(
                f"test_cfg.{key} is missing: mode={mode!r} needs "
                'crop_size=(h, w) and stride=(h, w)')
        if not _is_size_pair(test_cfg[key]):
            raise ValueError(f'test_cfg.{key} must be two positive integers '
                             f'(h, w), got {test_cfg[key]!r}')
    crop, stride = tuple(test_cfg['crop_size']), tuple(test_cfg['stride'])
    if stride[0] > crop[0] or stride[1] > crop[1]:
        raise ValueError(
            f'test_cfg.stride {stride} exceeds test_cfg.crop_size {crop}: '
            'the pixels between two windows would get no prediction')


@MODELS.register_module()
class SlideCutEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` with a third test mode, ``'slide_cut'``: the
    sliding-window evaluation of the CSL reference code (its Cityscapes
    evaluation).

    ``test_cfg=dict(mode='slide_cut', crop_size=(h_crop, w_crop),
    stride=(h_stride, w_stride))`` on an input of (B, C, H, W): windows start
    at rows 0, h_stride, 2 h_stride, ... while the row is below H, and at
    columns 0, w_stride, ... while the column is below W. A window that
    would cross the bottom or right edge is cut there, so the model runs on
    a smaller input (down to one pixel, when a start lies on the last row or
    column). The softmax over K of each window's ``encode_decode`` output
    (taken as logits) is summed over the windows covering a pixel, and the
    prediction is the argmax of the sum. The ``seg_logits`` of the
    predictions hold the log of the mean window probability
    (:meth:`slide_cut_inference` says why).

    mmseg's ``'slide'`` shifts the last windows back inside the image, so
    that every window has the full crop size, and averages logits; it and
    ``'whole'`` are mmseg's, unchanged. ``test_cfg`` is checked when the
    model is built (:func:`check_test_cfg`); ``'slide_cut'`` also needs a
    head of several classes (the softmax of one channel is constant).

    Args:
        test_cfg (dict): ``mode`` (``'whole'``, ``'slide'`` or
            ``'slide_cut'``) and, for the windowed modes, ``crop_size`` and
            ``stride``, each (h, w).
        backbone, decode_head, neck, auxiliary_head, train_cfg,
            data_preprocessor, pretrained, init_cfg: as ``EncoderDecoder``.
    """

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: ConfigType,
                 neck: OptConfigType = None,
                 auxiliary_head: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None):
        check_test_cfg(test_cfg)
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            neck=neck,
            auxiliary_head=auxiliary_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            pretrained=pretrained,
            init_cfg=init_cfg)
        if self._mode == SLIDE_CUT and self.out_channels == 1:
            raise ValueError(
                "test_cfg.mode='slide_cut' sums softmax probabilities over "
                'classes; the decode head has one output channel (a sigmoid '
                "head): use mode 'whole' or 'slide'")

    @property
    def _mode(self) -> str:
        return (self.test_cfg or {}).get('mode', 'whole')

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """(B, K, H, W) map whose argmax over K is the prediction: that of
        :meth:`slide_cut_inference` in mode ``'slide_cut'``, else mmseg's."""
        if self._mode == SLIDE_CUT:
            return self.slide_cut_inference(inputs, batch_img_metas)
        return super().inference(inputs, batch_img_metas)

    def slide_cut_inference(self, inputs: Tensor,
                            batch_img_metas: List[dict]) -> Tensor:
        """Windows cut at the image edges, softmax probabilities summed.

        Args:
            inputs (Tensor): (B, C, H, W) images (with any padding of the
                data preprocessor, which ``postprocess_result`` removes).
            batch_img_metas (list[dict]): their metainfo; each window gets a
                copy with ``img_shape`` the window's size, to which the
                decode head resizes its output.

        Returns:
            Tensor: (B, K, H, W) log of the mean probability of the windows
            covering each pixel, in float32 (float64 for float64 inputs).
            Dividing the sum by the number of windows and taking the log
            keep the order of the classes, so its argmax is the reference's
            argmax of summed probabilities; its softmax over K is the mean
            probability, as mmseg's test-time augmentation and
            ``postprocess_result``'s ``seg_logits`` expect of logits, and it
            varies smoothly where the window count changes, so a bilinear
            resize to ``ori_shape`` interpolates probabilities, not counts.
        """
        h_crop, w_crop = self.test_cfg['crop_size']
        h_stride, w_stride = self.test_cfg['stride']
        batch_size, _, height, width = inputs.shape
        summed = inputs.new_zeros((batch_size, self.out_channels, height, width),
                                  dtype=compute_dtype(inputs.dtype))
        count = summed.new_zeros((1, 1, height, width))
        for top in range(0, height, h_stride):
            for left in range(0, width, w_stride):
                bottom, right = min(top + h_crop, height), min(left + w_crop, width)
                window = inputs[:, :, top:bottom, left:right]
                # A torch.Size img_shape is the output size of mmseg's heads.
                window_metas = [dict(meta, img_shape=window.shape[2:])
                                for meta in batch_img_metas]
                logits = self.encode_decode(window, window_metas)
                summed[:, :, top:bottom, left:right] += \
                    at_least_float32(logits).softmax(dim=1)
                count[:, :, top:bottom, left:right] += 1
        mean = summed / count
        # A floor keeps the log finite: a bilinear resize of -inf gives NaN.
        return mean.clamp_min(torch.finfo(mean.dtype).tiny).log()
