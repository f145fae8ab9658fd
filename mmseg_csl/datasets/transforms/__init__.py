from .add_meta_info import AddMetaInfo
from .check_seg_map import CheckSegMap
from .color_jitter import TorchvisionColorJitter
from .multi_branch import MultiBranch
from .random_gaussian_blur import RandomGaussianBlur
from .random_grayscale import TorchvisionRandomGrayscale

__all__ = [
    'AddMetaInfo', 'CheckSegMap', 'MultiBranch', 'RandomGaussianBlur',
    'TorchvisionColorJitter', 'TorchvisionRandomGrayscale'
]
