from .cutmix import apply_cutmix, check_cutmix_params, generate_cutmix_masks
from .divergence import TrainingDivergedError, divergence_message
from .feature_tree import batch_size, has_spatial_tensor, map_tensors, slice_batch
from .reliable_masking import ReliableBlockMasking
from .running_stats import running_stat_buffers, running_stats_kept

__all__ = [
    'ReliableBlockMasking', 'TrainingDivergedError', 'apply_cutmix',
    'batch_size', 'check_cutmix_params', 'divergence_message',
    'generate_cutmix_masks', 'has_spatial_tensor', 'map_tensors',
    'running_stat_buffers', 'running_stats_kept', 'slice_batch'
]
