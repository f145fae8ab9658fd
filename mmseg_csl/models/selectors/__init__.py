from .base_selector import BaseSelector, NonFiniteProbabilitiesError
from .csl_selector import CSLSelector
from .selection_record import SelectionRecord
from .selection_result import SelectionResult
from .threshold_selector import ThresholdSelector

__all__ = [
    'BaseSelector', 'CSLSelector', 'NonFiniteProbabilitiesError', 'SelectionRecord',
    'SelectionResult', 'ThresholdSelector'
]
