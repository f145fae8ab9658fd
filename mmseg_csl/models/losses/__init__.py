from .pseudo_label_loss import PseudoLabelCrossEntropyLoss

__all__ = ['PseudoLabelCrossEntropyLoss']
