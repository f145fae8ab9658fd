from .cutmix import apply_cutmix, check_cutmix_params, generate_cutmix_masks
from .reliable_masking import ReliableBlockMasking

__all__ = [
    'ReliableBlockMasking', 'apply_cutmix', 'check_cutmix_params',
    'generate_cutmix_masks'
]
