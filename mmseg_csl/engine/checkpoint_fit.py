"""Loading a checkpoint that must fit the model exactly, for testing and analysis.

mmengine loads ``load_from`` non-strictly: weights the checkpoint lacks, or
holds in another shape (a head trained for another ``num_classes``), keep
their initial values and a warning is logged, so a test of a checkpoint that
does not fit its config scores a randomly initialised head and exits 0. A
score must come from the checkpoint's weights only, so here every weight of
the model must be in the checkpoint, in its shape, and the checkpoint must
hold nothing else.

The one key mapping allowed is the one between a plain segmentor and
``SemiSegmentor`` (``mmseg_csl.models.segmentors.semi_checkpoint_keys``): a
plain checkpoint loads into the wrapper's student (and teacher), and a
wrapper's checkpoint into the plain model, which takes the student's weights.
"""
import re
from collections import OrderedDict
from typing import Callable, List, Optional, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import CheckpointLoader, load_state_dict

from ..models.segmentors import SemiSegmentor
from ..models.segmentors.semi_checkpoint_keys import (
    has_wrapped_keys,
    unwrap_segmentor_keys,
    wrap_segmentor_keys,
)
from .checkpoint import safe_checkpoint_loading
from .checkpoint_files import check_checkpoint_file

MAX_SHOWN_KEYS = 6
# Counted by BatchNorm layers; mmengine does not require it either.
UNCHECKED_SUFFIX = 'num_batches_tracked'


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's weights do not fit the model they are loaded into."""


def loaded_module(model: nn.Module) -> nn.Module:
    """The module whose state dict a checkpoint holds: ``model`` without a
    distributed wrapper (DDP) or a test-time augmentation wrapper, as
    mmengine's loading unwraps them."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def fit_state_dict(model: nn.Module, state_dict: dict) -> Tuple[OrderedDict, str]:
    """``state_dict`` under the names ``model`` gives its weights, and a
    sentence on the mapping made ('' when none).

    The ``module.`` prefix of a DDP-saved state dict is dropped, as mmengine
    does; a plain segmentor's keys move under ``segmentor.`` (and
    ``teacher.``) for a ``SemiSegmentor``; a SemiSegmentor's state dict
    loaded into any other model keeps its student's ``segmentor.*`` weights
    without the prefix.
    """
    mapped = OrderedDict(
        (re.sub(r'^module\.', '', key), value) for key, value in state_dict.items())
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        mapped._metadata = metadata
    if isinstance(model, SemiSegmentor):
        with_teacher = model.teacher is not None
        if wrap_segmentor_keys(mapped, with_teacher=with_teacher):
            into = 'student and teacher' if with_teacher else 'student'
            return mapped, (f"a plain segmentor's weights, loaded into "
                            f"SemiSegmentor's {into}")
        return mapped, ''
    if has_wrapped_keys(mapped):
        return unwrap_segmentor_keys(mapped), (
            "SemiSegmentor's student weights (segmentor.*); the teacher's "
            '(teacher.*), if any, are left out: '
            'tools/model_converters/semi_to_mmseg.py --use-teacher makes a '
            "checkpoint of the teacher's")
    return mapped, ''


def _listed(keys: List[str]) -> str:
    shown = ', '.join(keys[:MAX_SHOWN_KEYS])
    more = len(keys) - MAX_SHOWN_KEYS
    return shown + (f' and {more} more' if more > 0 else '')


def mismatch_message(model: nn.Module, state_dict: dict) -> Optional[str]:
    """What differs between ``model``'s weights and ``state_dict`` (keys
    already mapped by :func:`fit_state_dict`), or None if they fit: the
    weights of another shape with both shapes, the model's weights missing,
    and the checkpoint's weights the model does not have."""
    own = model.state_dict()
    shapes = [f'{key} (checkpoint {tuple(value.shape)}, model '
              f'{tuple(own[key].shape)})'
              for key, value in state_dict.items()
              if key in own and hasattr(value, 'shape')
              and value.shape != own[key].shape]
    missing = [key for key in own
               if key not in state_dict and not key.endswith(UNCHECKED_SUFFIX)]
    unexpected = [key for key in state_dict if key not in own]
    parts = []
    if shapes:
        parts.append(f'{len(shapes)} weight(s) of another shape: {_listed(shapes)}')
    if missing:
        parts.append(f"{len(missing)} weight(s) of the model not in the "
                     f'checkpoint: {_listed(missing)}')
    if unexpected:
        parts.append(f'{len(unexpected)} weight(s) the model does not have: '
                     f'{_listed(unexpected)}')
    return '; '.join(parts) if parts else None


def fit_checkpoint(model: nn.Module, checkpoint: dict, filename: str) -> str:
    """Put ``checkpoint``'s state dict under ``model``'s names, in place
    (:func:`fit_state_dict`), and check that it fits ``model`` exactly.

    Args:
        model: The model it will be loaded into (wrappers are unwrapped).
        checkpoint: A loaded checkpoint: ``dict(state_dict=..., ...)`` or a
            bare state dict.
        filename: Its file, for the error message.

    Returns:
        str: the mapping made, as :func:`fit_state_dict` says it.

    Raises:
        CheckpointMismatchError: naming the file, the model and the weights
            that differ (keys and shapes).
    """
    model = loaded_module(model)
    bare = 'state_dict' not in checkpoint
    state_dict, note = fit_state_dict(
        model, checkpoint if bare else checkpoint['state_dict'])
    problems = mismatch_message(model, state_dict)
    if problems is not None:
        mapped = f' (read as {note})' if note else ''
        raise CheckpointMismatchError(
            f'The checkpoint {filename}{mapped} does not fit the model of the '
            f'config ({type(model).__name__}): {problems}. Loading it would '
            'leave those weights as initialised and the scores would not be '
            "the checkpoint's. Use the config it was trained with (the same "
            'model and num_classes).')
    if bare:
        checkpoint.clear()
        checkpoint.update(state_dict)
    else:
        checkpoint['state_dict'] = state_dict
    return note


def load_checkpoint_exactly(model: nn.Module, filename: str,
                            map_location: Union[str, Callable, None] = 'cpu'
                            ) -> Tuple[dict, str]:
    """Load ``filename`` into ``model`` strictly: the file must be complete
    and its weights fit ``model`` exactly, up to the SemiSegmentor mapping
    (:func:`fit_checkpoint`). Loads weights-only (:func:`safe_checkpoint_loading`).

    Returns:
        tuple: the checkpoint and the mapping made ('' when none).

    Raises:
        IncompleteCheckpointError: the file is empty or truncated.
        CheckpointMismatchError: its weights do not fit ``model``.
    """
    check_checkpoint_file(filename)
    with safe_checkpoint_loading():
        checkpoint = CheckpointLoader.load_checkpoint(filename, map_location)
    note = fit_checkpoint(model, checkpoint, filename)
    load_state_dict(loaded_module(model), checkpoint.get('state_dict', checkpoint),
                    strict=True)
    return checkpoint, note
