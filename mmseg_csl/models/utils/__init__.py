from .cutmix import apply_cutmix, check_cutmix_params, generate_cutmix_masks
from .reliable_masking import ReliableBlockMasking
from .running_stats import running_stat_buffers, running_stats_kept

__all__ = [
    'ReliableBlockMasking', 'apply_cutmix', 'check_cutmix_params',
    'generate_cutmix_masks', 'running_stat_buffers', 'running_stats_kept'
]
