from .class_count_check_hook import ClassCountCheckHook
from .csl_selector_hook import CSLSelectorHook
from .iteration_seed_hook import IterationSeedHook
from .mean_teacher_hook import MeanTeacherHook

__all__ = [
    'ClassCountCheckHook', 'CSLSelectorHook', 'IterationSeedHook', 'MeanTeacherHook'
]
