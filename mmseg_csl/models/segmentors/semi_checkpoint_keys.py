"""The keys of a SemiSegmentor's weights and of the plain segmentor inside it.

A ``SemiSegmentor`` state dict holds the wrapped segmentor's weights under
``segmentor.`` and, with an EMA teacher, the teacher's under ``teacher.``; a
plain mmseg segmentor names the same weights without a prefix. These two
functions map one onto the other, so that a supervised checkpoint loads into
the wrapper and a wrapper's checkpoint into the plain model.
"""
from collections import OrderedDict
from typing import Iterable

STUDENT_PREFIX = 'segmentor.'
TEACHER_PREFIX = 'teacher.'
WRAPPED_PREFIXES = (STUDENT_PREFIX, TEACHER_PREFIX)


def has_wrapped_keys(keys: Iterable[str], prefix: str = '') -> bool:
    """Whether any of ``keys`` is a SemiSegmentor key (``segmentor.*`` or
    ``teacher.*``) under ``prefix``."""
    wrapped = tuple(prefix + name for name in WRAPPED_PREFIXES)
    return any(key.startswith(wrapped) for key in keys)


def wrap_segmentor_keys(state_dict: dict, prefix: str = '',
                        with_teacher: bool = False) -> bool:
    """Rename, in place, a plain segmentor's keys under ``prefix`` to
    ``prefix + 'segmentor.'`` and, with ``with_teacher``, copy them to
    ``prefix + 'teacher.'`` as well, so that student and teacher start from
    the same weights.

    A state dict with SemiSegmentor keys under ``prefix``, or with no key
    there, is left as it is.

    Returns:
        bool: whether any key was renamed.
    """
    own_keys = [key for key in state_dict if key.startswith(prefix)]
    if not own_keys or has_wrapped_keys(own_keys, prefix):
        return False
    for key in own_keys:
        value = state_dict.pop(key)
        name = key[len(prefix):]
        state_dict[f'{prefix}{STUDENT_PREFIX}{name}'] = value
        if with_teacher:
            state_dict[f'{prefix}{TEACHER_PREFIX}{name}'] = value
    return True


def unwrap_segmentor_keys(state_dict: dict, use_teacher: bool = False) -> OrderedDict:
    """The plain segmentor's state dict inside a SemiSegmentor's: the
    student's ``segmentor.*`` weights (the EMA teacher's ``teacher.*`` with
    ``use_teacher``) without their prefix; every other key is left out.

    The version metadata of the modules (``_metadata``), which some modules
    read when they load, is carried over under the same names.
    """
    prefix = TEACHER_PREFIX if use_teacher else STUDENT_PREFIX
    weights = OrderedDict((key[len(prefix):], value)
                          for key, value in state_dict.items()
                          if key.startswith(prefix))
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        module = prefix[:-1]
        weights._metadata = OrderedDict(
            (name[len(prefix):] if name != module else '', value)
            for name, value in metadata.items()
            if name == module or name.startswith(prefix))
    return weights
