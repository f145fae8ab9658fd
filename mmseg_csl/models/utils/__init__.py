from .cutmix import apply_cutmix, check_cutmix_params, generate_cutmix_masks
from .divergence import TrainingDivergedError, divergence_message
from .reliable_masking import ReliableBlockMasking
from .running_stats import running_stat_buffers, running_stats_kept

__all__ = [
    'ReliableBlockMasking', 'TrainingDivergedError', 'apply_cutmix',
    'check_cutmix_params', 'divergence_message', 'generate_cutmix_masks',
    'running_stat_buffers', 'running_stats_kept'
]
