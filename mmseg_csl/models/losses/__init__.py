from .ohem_cross_entropy_loss import BatchOhemCrossEntropyLoss
from .pseudo_label_loss import PseudoLabelCrossEntropyLoss

__all__ = ['BatchOhemCrossEntropyLoss', 'PseudoLabelCrossEntropyLoss']
