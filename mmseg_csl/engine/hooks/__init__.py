from .checkpoint_check_hook import CheckpointCheckHook, add_checkpoint_check
from .class_count_check_hook import ClassCountCheckHook
from .csl_selector_hook import CSLSelectorHook
from .divergence_check_hook import DivergenceCheckHook
from .iteration_seed_hook import IterationSeedHook
from .mean_teacher_hook import MeanTeacherHook
from .safe_checkpoint_loading_hook import (
    SafeCheckpointLoadingHook,
    add_safe_checkpoint_loading,
)

__all__ = [
    'CheckpointCheckHook', 'ClassCountCheckHook', 'CSLSelectorHook',
    'DivergenceCheckHook', 'IterationSeedHook', 'MeanTeacherHook',
    'SafeCheckpointLoadingHook', 'add_checkpoint_check',
    'add_safe_checkpoint_loading'
]
