from typing import Sequence

from mmcv.transforms import RandomGrayscale as MMCVRandomGrayscale
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class TorchvisionRandomGrayscale(MMCVRandomGrayscale):
    """mmcv's ``RandomGrayscale`` with torchvision's behaviour as the default.

    The strong views turn grey with p 0.2 (docs/method.md, section 5). With
    probability ``prob`` the image becomes grey, each of its three
    channels the luma ``0.299 R + 0.587 G + 0.114 B`` (the weights below are
    in BGR order). mmcv's own defaults give a one-channel image of equally
    weighted channels, which would not stack with the colour views of a
    batch. It has a name of its own, so that ``RandomGrayscale`` stays
    mmcv's in every config; mmcv's arguments keep their meaning here.
    Randomness comes from Python's ``random`` (seeded by mmengine).

    Required keys: img. Modified keys: img.

    Args:
        prob (float): Probability of turning grey. Defaults to 0.1.
        keep_channels (bool): Keep three channels. Defaults to True.
        channel_weights (Sequence[float]): Weights of the B, G, R channels.
            Defaults to the ITU-R 601 luma weights.
        color_format (str): 'bgr', 'rgb' or 'hsv'. Defaults to 'bgr'.
    """

    def __init__(self,
                 prob: float = 0.1,
                 keep_channels: bool = True,
                 channel_weights: Sequence[float] = (0.114, 0.587, 0.299),
                 color_format: str = 'bgr') -> None:
        super().__init__(
            prob=prob,
            keep_channels=keep_channels,
            channel_weights=channel_weights,
            color_format=color_format)
