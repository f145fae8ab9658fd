from .add_meta_info import AddMetaInfo
from .color_jitter import ColorJitter
from .multi_branch import MultiBranch
from .random_gaussian_blur import RandomGaussianBlur
from .random_grayscale import RandomGrayscale

__all__ = [
    'AddMetaInfo', 'ColorJitter', 'MultiBranch', 'RandomGaussianBlur',
    'RandomGrayscale'
]
