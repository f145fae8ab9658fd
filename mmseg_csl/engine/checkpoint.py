"""Safe loading of mmengine checkpoints with PyTorch >= 2.6, for the runs that
ask for it.

Since PyTorch 2.6, ``torch.load`` unpickles with ``weights_only=True`` by default:
only tensors, plain containers and allow-listed globals. Checkpoints of mmengine
0.10 also hold the message hub (``HistoryBuffer`` objects with numpy arrays and
scalars), so mmengine's ``--resume`` fails. :func:`load_from_local` loads a local
file weights-only with exactly the globals those checkpoints need allowed
(:func:`safe_checkpoint_globals`), and refuses any other file with an error that
names the file, the offending globals and how to proceed.

Nothing here changes mmengine or PyTorch for the whole process. A run opts in:
``SafeCheckpointLoadingHook`` (in the ``default_hooks`` of this package's
configs; ``tools/train.py`` and ``tools/test.py`` add it to any config) makes
its runner load checkpoints this way, and a script wraps its own loading in
:func:`safe_checkpoint_loading`.
"""
import contextlib
import os.path as osp
import pickle
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader
from mmengine.utils import digit_version

try:
    from numpy._core import multiarray  # numpy >= 2
except ImportError:
    from numpy.core import multiarray

SafeGlobal = Union[Callable, Tuple[Callable, str]]

# The statistics HistoryBuffer registers by default (its
# ``_set_default_statistics``); it pickles them as ``getattr(HistoryBuffer, name)``.
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')
NUMERIC_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
                  'uint32', 'uint64', 'float16', 'float32', 'float64')


def history_buffer_statistic(owner: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` during weights-only unpickling.

    A pickled ``HistoryBuffer`` refers to its statistics methods through
    ``getattr(HistoryBuffer, 'min')``. Allow-listing ``getattr`` itself would
    let a file read any attribute of anything it can reach; this resolves
    those statistics only.
    """
    if owner is not HistoryBuffer or name not in HISTORY_BUFFER_STATISTICS:
        raise pickle.UnpicklingError(
            f'getattr({owner!r}, {name!r}) is not allowed in a checkpoint: only '
            f'the HistoryBuffer statistics {HISTORY_BUFFER_STATISTICS} are.')
    return getattr(HistoryBuffer, name)


def safe_checkpoint_globals() -> List[SafeGlobal]:
    """The globals that mmengine/mmseg checkpoints pickle besides tensors.

    Found by saving a checkpoint with a Runner and listing what
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` and a
    weights-only load reject: ``HistoryBuffer`` and its statistics, numpy
    arrays (``_reconstruct``, ``ndarray``, ``dtype`` and the dtype classes),
    numpy scalars (``scalar``). The numpy functions are listed under both
    module paths, ``numpy._core`` (numpy 2) and ``numpy.core`` (numpy 1), so
    checkpoints written with either load; dtype classes cover the plain
    numeric dtypes, never ``object``.
    """
    numpy_functions = [(getattr(multiarray, name), f'numpy.{core}.multiarray.{name}')
                       for name in ('_reconstruct', 'scalar')
                       for core in ('_core', 'core')]
    dtype_classes = [type(np.dtype(name)) for name in NUMERIC_DTYPES]
    return [
        HistoryBuffer,
        (history_buffer_statistic, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
        *dtype_classes,
        *numpy_functions,
    ]


def load_from_local(filename: str,
                    map_location: Optional[Union[str, Callable]] = None) -> Any:
    """Load a local checkpoint file with ``torch.load(weights_only=True)``,
    :func:`safe_checkpoint_globals` allowed for this call only.

    The loader of mmengine's ``CheckpointLoader`` for paths without a scheme
    prefix inside :func:`safe_checkpoint_loading`. Needs PyTorch >= 2.5
    (``torch.serialization.safe_globals``).

    Raises:
        FileNotFoundError: ``filename`` is not a file.
        pickle.UnpicklingError: the file holds objects outside the allow-list;
            nothing of them is executed.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with torch.serialization.safe_globals(safe_checkpoint_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(refusal_message(filename)) from error


def refusal_message(filename: str) -> str:
    """Why ``filename`` was refused and what a user who trusts it can do."""
    try:
        offending = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except ValueError:  # not a zip checkpoint (legacy torch.save format)
        offending = []
    if offending:
        content = 'the pickled global(s) ' + ', '.join(sorted(offending))
    else:
        content = 'an object outside the allow-list (see the error above)'
    return (
        f'Refused to load the checkpoint {filename}: it holds {content}, which '
        'torch.load(weights_only=True) does not allow, because unpickling it '
        'could run arbitrary code. mmseg_csl allow-lists only what mmengine '
        'checkpoints hold (mmseg_csl.engine.safe_checkpoint_globals()). If you '
        'trust this file, convert it: load it yourself with '
        'torch.load(path, weights_only=False) and torch.save the parts you '
        "need, e.g. {'state_dict': checkpoint['state_dict']}; or allow the "
        'class with torch.serialization.add_safe_globals([...]) before loading.')


def needs_safe_loading() -> bool:
    """Whether ``torch.load`` is weights-only by default (PyTorch >= 2.6), so
    that mmengine's own loader refuses its checkpoints."""
    return digit_version(torch.__version__) >= digit_version('2.6.0')


@contextlib.contextmanager
def safe_checkpoint_loading() -> Iterator[None]:
    """Within the block, mmengine loads local checkpoint files with
    :func:`load_from_local`; the loader it had before comes back on leaving.

    Other schemes (``open-mmlab://``, ``https://``...) keep their loaders.
    With PyTorch < 2.6, whose ``torch.load`` is not weights-only by default,
    nothing changes. Example::

        with safe_checkpoint_loading():
            load_checkpoint(model, 'work_dirs/x/iter_720.pth', map_location='cpu')
    """
    if not needs_safe_loading():
        yield
        return
    schemes = CheckpointLoader._schemes
    previous = schemes['']
    schemes[''] = load_from_local
    try:
        yield
    finally:
        schemes[''] = previous
