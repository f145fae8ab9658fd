"""Stop a run whose model and datasets disagree on the number of classes."""
from typing import List, Sequence, Tuple

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import HOOKS

MAX_SHOWN_CLASSES = 8


def predicted_classes(head: BaseDecodeHead) -> int:
    """Classes a decode head predicts: ``num_classes``, except for mmseg's
    binary heads (``out_channels=1``, a sigmoid thresholded into 2 classes)."""
    return 2 if head.out_channels == 1 else head.num_classes


def decode_heads(model: nn.Module,
                 ignored_types: Sequence[str] = ()) -> List[Tuple[str, BaseDecodeHead]]:
    """(name, head) of every mmseg decode head in ``model``: decode and
    auxiliary heads, also inside wrappers such as ``SemiSegmentor``; heads
    whose class name is in ``ignored_types`` are left out."""
    if is_model_wrapper(model):
        model = model.module
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, BaseDecodeHead)
            and type(module).__name__ not in ignored_types]


def check_class_count(model: nn.Module, dataset, split: str,
                      ignored_types: Sequence[str] = ()) -> None:
    """Raise a ValueError naming every head of ``model`` that predicts
    another number of classes than ``dataset.metainfo['classes']`` holds.

    A dataset without ``classes`` in its metainfo is not checked.

    Args:
        model: The model (or its wrapper).
        dataset: The dataset of ``split`` (a ConcatDataset has its first
            dataset's metainfo; mmengine checks that they agree).
        split: Its name in the message: 'training', 'validation' or 'test'.
        ignored_types: Class names of heads that predict something other
            than the dataset's classes.
    """
    classes = getattr(dataset, 'metainfo', {}).get('classes')
    if classes is None:
        return
    mismatches = []
    for name, head in decode_heads(model, ignored_types):
        count = predicted_classes(head)
        if count != len(classes):
            binary = ', out_channels=1: binary' if head.out_channels == 1 else ''
            mismatches.append(f"'{name}' ({type(head).__name__}) predicts {count} "
                              f'(num_classes={head.num_classes}{binary})')
    if mismatches:
        shown = ', '.join(repr(name) for name in classes[:MAX_SHOWN_CLASSES])
        if len(classes) > MAX_SHOWN_CLASSES:
            shown += ', ...'
        raise ValueError(
            f'the {split} dataset ({type(dataset).__name__}) has {len(classes)} '
            f"classes ({shown}) in metainfo['classes'], but the model's "
            f"head(s) {'; '.join(mismatches)}. Set num_classes={len(classes)} in "
            "the model's decode and auxiliary heads (out_channels=1 with "
            'num_classes=2 for a binary sigmoid head), or give the dataset the '
            'classes the model is built for.')


@HOOKS.register_module()
class ClassCountCheckHook(Hook):
    """Check, before training, validation and testing start, that every decode
    and auxiliary head of the model predicts as many classes as the datasets
    have (``metainfo['classes']``); a mismatch raises a ValueError naming the
    heads, their ``num_classes`` and the dataset's classes.

    Without it, such a config trains: too many classes go unnoticed (the
    extra logits are never the target), too few end in a device-side assert
    or an out-of-range error in the loss, possibly hours into a run. mmseg's
    binary heads (``out_channels=1``) count as 2 classes.

    ``before_train`` checks the training dataset and, when the run validates,
    the validation dataset, so both fail before the first iteration.

    Args:
        ignored_types (Sequence[str]): Class names of heads whose outputs
            are not the dataset's classes. Defaults to ``('STDCHead',)``,
            STDC's boundary head (edge / no edge).
    """

    priority = 'VERY_HIGH'

    def __init__(self, ignored_types: Sequence[str] = ('STDCHead', )) -> None:
        self.ignored_types = tuple(ignored_types)

    def before_train(self, runner) -> None:
        self._check(runner, 'train', 'training')
        if runner.val_loop is not None:
            self._check(runner, 'val', 'validation')

    def before_val(self, runner) -> None:
        self._check(runner, 'val', 'validation')

    def before_test(self, runner) -> None:
        self._check(runner, 'test', 'test')

    def _check(self, runner, loader: str, split: str) -> None:
        dataset = getattr(runner, f'{loader}_dataloader').dataset
        check_class_count(runner.model, dataset, split, self.ignored_types)
