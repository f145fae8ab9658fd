from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor

from ..utils.precision import at_least_float32


@MODELS.register_module()
class DeepLabV3PlusHead(BaseDecodeHead):
    """The original DeepLabV3+ decoder, with a plain ASPP and no dropout.

    This is the decode head of the training code released with CSL (Liu &
    Liu, ICCV 2025, arXiv:2509.16704), which is UniMatch's DeepLabV3+ decoder.
    For a low-level feature ``c1`` of shape (N, c1_in_channels, H1, W1) and a
    high-level feature ``c4`` of shape (N, in_channels, H4, W4), the head
    computes:

    1. ASPP on ``c4``: a 1x1 conv, one 3x3 conv per dilation rate after the
       first, and image pooling (global average pooling, a 1x1 conv, upsampled
       back to (H4, W4)), each giving ``channels`` maps (five branches for
       four dilations), concatenated and projected by a 1x1 conv to
       (N, channels, H4, W4).
    2. ``c1`` reduced by a 1x1 conv to (N, c1_channels, H1, W1).
    3. The ASPP output resized to (H1, W1), concatenated with the reduced
       ``c1`` and fused by two 3x3 convs to (N, channels, H1, W1).
    4. A 1x1 classifier with bias, giving (N, num_classes, H1, W1) logits.

    Every conv but the classifier is followed by ``norm_cfg`` and ``act_cfg``
    (BN and ReLU in the reference). ``dropout_ratio`` defaults to 0 because
    the reference head has no dropout: the pseudo-labels of semi-supervised
    training come from this head in train mode, and a dropout there would
    perturb them. With in_channels=2048, c1_in_channels=256, channels=256 and
    c1_channels=48 the head has 16,844,149 parameters for 21 classes.

    It differs from mmseg's ``DepthwiseSeparableASPPHead`` (the DeepLabV3+
    of mmseg's configs, usually at 512 channels), which uses depthwise
    separable convs for the dilated ASPP branches and for the fusion, projects
    the ASPP branches by a 3x3 rather than a 1x1 conv, and applies dropout 0.1
    before the classifier.

    Args:
        in_channels (int): Channels of the high-level feature ``c4``.
        channels (int): Channels of each ASPP branch, of the ASPP projection
            and of the fusion convs.
        c1_in_channels (int): Channels of the low-level feature ``c1``.
        c1_channels (int): Channels of ``c1`` after its 1x1 reduction.
        dilations (Sequence[int]): Dilation rates in mmseg's convention: the
            first must be 1 (the 1x1 branch), each later one gives a 3x3
            branch. Default: (1, 12, 24, 36), for output stride 8.
        in_index (Sequence[int]): Indices of ``c1`` and ``c4`` (in this
            order) among the backbone outputs. Default: (0, 3).
        dropout_ratio (float): Dropout before the classifier. Default: 0.
        **kwargs: Other arguments of :class:`BaseDecodeHead`
            (``num_classes``, ``norm_cfg``, ``align_corners``, ...).
            ``input_transform`` is fixed to ``'multiple_select'``.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 c1_in_channels: int,
                 c1_channels: int,
                 dilations: Sequence[int] = (1, 12, 24, 36),
                 in_index: Sequence[int] = (0, 3),
                 dropout_ratio: float = 0.0,
                 **kwargs) -> None:
        if not isinstance(in_index, (list, tuple)) or len(in_index) != 2:
            raise ValueError('in_index must give the indices of the low-level '
                             'and the high-level feature, e.g. (0, 3); got '
                             f'{in_index!r}')
        input_transform = kwargs.pop('input_transform', 'multiple_select')
        if input_transform != 'multiple_select':
            raise ValueError('DeepLabV3PlusHead selects its two inputs itself '
                             "(input_transform='multiple_select'); got "
                             f'input_transform={input_transform!r}')
        if (not isinstance(dilations, (list, tuple)) or len(dilations) < 2
                or dilations[0] != 1
                or any(not isinstance(d, int) or d < 1 for d in dilations)):
            raise ValueError('dilations must be positive ints, the first 1 for '
                             'the 1x1 branch, e.g. (1, 12, 24, 36); got '
                             f'{dilations!r}')
        super().__init__(
            in_channels=[c1_in_channels, in_channels],
            channels=channels,
            in_index=list(in_index),
            input_transform='multiple_select',
            dropout_ratio=dropout_ratio,
            **kwargs)
        self.dilations = tuple(dilations)
        self.c1_in_channels = c1_in_channels
        self.c1_channels = c1_channels

        self.aspp_branches = nn.ModuleList(
            self._conv(in_channels, channels, 1 if d == 1 else 3, dilation=d)
            for d in self.dilations)
        self.image_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), self._conv(in_channels, channels, 1))
        self.aspp_project = self._conv((len(self.dilations) + 1) * channels,
                                       channels, 1)
        self.c1_reduce = self._conv(c1_in_channels, c1_channels, 1)
        self.fuse = nn.Sequential(
            self._conv(channels + c1_channels, channels, 3),
            self._conv(channels, channels, 3))

    def _conv(self,
              in_channels: int,
              out_channels: int,
              kernel_size: int,
              dilation: int = 1) -> ConvModule:
        """A conv with 'same' padding, followed by norm and activation."""
        return ConvModule(
            in_channels,
            out_channels,
            kernel_size,
            padding=dilation * (kernel_size // 2),
            dilation=dilation,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _aspp(self, x: Tensor) -> Tensor:
        """(N, in_channels, H4, W4) -> (N, channels, H4, W4)."""
        pooled = resize(
            self.image_pool(x),
            size=x.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        outs = [branch(x) for branch in self.aspp_branches] + [pooled]
        return self.aspp_project(torch.cat(outs, dim=1))

    def _transform_inputs(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Select ``[c1, c4]`` from the backbone outputs."""
        num = len(inputs)
        if any(not -num <= index < num for index in self.in_index):
            raise ValueError(f'DeepLabV3PlusHead takes features {self.in_index} '
                             f'(low-level, high-level) but got {num} feature '
                             'maps; set the backbone out_indices or in_index')
        return super()._transform_inputs(inputs)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        """mmseg's loss, on the logits cast to float32: under mixed precision
        they come in the autocast dtype, and would otherwise be resized to
        the label size in it."""
        return super().loss_by_feat(at_least_float32(seg_logits),
                                    batch_data_samples)

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tensor:
        """Decode backbone features into logits.

        Args:
            inputs (tuple[Tensor]): Backbone outputs; ``inputs[in_index[0]]``
                is ``c1`` (N, c1_in_channels, H1, W1) and
                ``inputs[in_index[1]]`` is ``c4`` (N, in_channels, H4, W4).

        Returns:
            Tensor: (N, num_classes, H1, W1) logits.
        """
        c1, c4 = self._transform_inputs(inputs)
        high = resize(
            self._aspp(c4),
            size=c1.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        feats = self.fuse(torch.cat([self.c1_reduce(c1), high], dim=1))
        return self.cls_seg(feats)
