from numbers import Real
from typing import Any, Dict, Sequence, Union

import torch
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class PixelPadSegDataPreProcessor(SegDataPreProcessor):
    """mmseg's ``SegDataPreProcessor`` with padding of a colour in pixel values.

    mmseg pads a normalised batch with ``pad_val``, a value after
    normalisation: 0 there is the dataset's mean colour. The reference code of
    UniMatch and CSL pads crops with black (pixel value 0) and sets padded
    pixels back to black after the photometric transforms of every view. This
    preprocessor pads the same way: after normalisation, the padded pixels of
    every image get ``(pixel_pad_val - mean) / std``, channel by channel, so a
    crop smaller than ``size`` is padded with the colour ``pixel_pad_val``
    whatever the photometric transforms did to the image. Label maps are padded
    with ``seg_pad_val`` as in mmseg, and each sample's ``img_shape`` stays the
    unpadded size, so padding stays invalid for every loss and for pseudo-label
    selection.

    Padding is bottom and right (mmseg's ``stack_batch``), in training to
    ``size`` or a multiple of ``size_divisor`` and at test time as
    ``test_cfg`` says; the filled region is read from each sample's padding
    metainfo, as mmseg's ``postprocess_result`` reads it to crop the padding
    off predictions.

    Args:
        pixel_pad_val (float | Sequence[float]): Padding colour in pixel
            values, one value for every channel or one per channel in the
            channel order after ``bgr_to_rgb``. Defaults to 0 (black).
        **kwargs: The arguments of ``SegDataPreProcessor`` except ``pad_val``
            (which this colour replaces) and ``batch_augments`` (which would
            see the padding before it is filled).
    """

    def __init__(self, pixel_pad_val: Union[float, Sequence[float]] = 0.0,
                 **kwargs) -> None:
        if kwargs.pop('pad_val', None) is not None:
            raise ValueError('PixelPadSegDataPreProcessor takes no `pad_val`: the '
                             'padding colour is `pixel_pad_val`, in pixel values')
        if kwargs.get('batch_augments') is not None:
            raise ValueError(
                'PixelPadSegDataPreProcessor takes no `batch_augments`: they would '
                "see the padding before it is filled; use mmseg's "
                'SegDataPreProcessor for them')
        super().__init__(**kwargs)
        self.register_buffer(
            'pad_colour', self._normalised_colour(pixel_pad_val), persistent=False)

    def _normalised_colour(self, pixel_pad_val: Union[float, Sequence[float]]
                           ) -> Tensor:
        """(C, 1, 1) float32: the padding colour after normalisation."""
        channels = self.mean.shape[0] if self._enable_normalize else None
        if isinstance(pixel_pad_val, Real):
            colour = torch.full((channels or 1, 1, 1), float(pixel_pad_val))
        else:
            colour = torch.tensor([float(v) for v in pixel_pad_val]).view(-1, 1, 1)
            if channels is not None and len(colour) not in (1, channels):
                raise ValueError(
                    f'pixel_pad_val has {len(colour)} values but mean and std '
                    f'have {channels} channels: give one value or one per channel')
        if self._enable_normalize:
            colour = (colour - self.mean) / self.std
        return colour

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Preprocess as ``SegDataPreProcessor`` does, then fill the padded
        pixels of every (C, H, W) image of the batch with the padding colour."""
        result = super().forward(data, training)
        for image, sample in zip(result['inputs'], result['data_samples']):
            _, right, _, bottom = _padding_size(sample.metainfo)
            colour = self.pad_colour.to(image.dtype)
            if right:
                image[:, :, image.shape[-1] - right:] = colour
            if bottom:
                image[:, image.shape[-2] - bottom:, :] = colour
        return result


def _padding_size(metainfo: dict) -> Sequence[int]:
    """(left, right, top, bottom) padding of a sample: ``img_padding_size`` at
    test time, ``padding_size`` in training (mmseg's ``stack_batch``)."""
    padding = metainfo.get('img_padding_size')
    if padding is None:
        padding = metainfo.get('padding_size')
    return (0, 0, 0, 0) if padding is None else padding
