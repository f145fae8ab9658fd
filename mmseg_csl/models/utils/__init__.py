from .cutmix import apply_cutmix, check_cutmix_params, generate_cutmix_masks
from .divergence import TrainingDivergedError, divergence_message
from .feature_tree import batch_size, has_spatial_tensor, map_tensors, slice_batch
from .reliable_masking import ReliableBlockMasking
from .running_stats import running_stat_buffers, running_stats_kept
from .step_phases import (
    STEP_PHASES,
    StepPhaseObserver,
    observe_step_phases,
    step_phase,
)

__all__ = [
    'ReliableBlockMasking', 'STEP_PHASES', 'StepPhaseObserver',
    'TrainingDivergedError', 'apply_cutmix',
    'batch_size', 'check_cutmix_params', 'divergence_message',
    'generate_cutmix_masks', 'has_spatial_tensor', 'map_tensors',
    'observe_step_phases', 'running_stat_buffers', 'running_stats_kept',
    'slice_batch', 'step_phase'
]
