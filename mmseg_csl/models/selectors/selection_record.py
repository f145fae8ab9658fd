from typing import NamedTuple, Optional

from torch import Tensor

from .selection_result import SelectionResult


class SelectionRecord(NamedTuple):
    """Detached record of one training step's pseudo-label selection.

    ``SemiSegmentor`` keeps the record of its last step for ``CSLSelectorHook``
    and the selection-quality tools; n is the number of trained unlabeled samples
    and (H, W) the padded input size.

    Attributes:
        result (SelectionResult): the selector's output, fields (n, H, W).
        valid (Tensor): (n, H, W) bool, False on padding.
        gt_sem_seg (Tensor, optional): (n, H, W) int64 ground truth of the
            weak views when their data samples carry ``gt_sem_seg``.
        ignore_index (int): label value of unannotated ground-truth pixels.
    """
    result: SelectionResult
    valid: Tensor
    gt_sem_seg: Optional[Tensor]
    ignore_index: int
