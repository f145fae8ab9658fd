"""Checkpoint files that are whole: written under a temporary name, and
checked before they are loaded.

``torch.save`` writes a zip archive whose directory is at its very end. A
checkpoint cut short (a full disk, a job killed while it saves, a copy that
stopped half-way) has none, and ``torch.load`` fails with "PytorchStreamReader
failed reading zip archive: failed finding central directory", naming no
file. mmengine writes a checkpoint straight under its final name and then
points ``last_checkpoint`` at it, so that a save that fails can leave a
truncated ``iter_N.pth`` that looks like the newest checkpoint.

Here a checkpoint is written as ``<name>.part`` and renamed when it is
complete (:func:`save_under_partial_name`); a local file is recognised as
incomplete from its first bytes and its zip directory
(:func:`checkpoint_defect`), without reading its tensors; the newest complete
checkpoint of the same series (``iter_*.pth`` for ``iter_20.pth``) is found
beside it (:func:`newest_complete_checkpoint`). ``CheckpointCheckHook`` puts
these into a runner's saving, loading and resuming.
"""
import functools
import inspect
import os
import os.path as osp
import re
import zipfile
from typing import Callable, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend

from ..utils import is_local_path

# The first bytes of a zip archive, the format of ``torch.save`` since
# PyTorch 1.6; other files are left to ``torch.load`` to judge.
ZIP_SIGNATURE = b'PK\x03\x04'
PARTIAL_SUFFIX = '.part'


class IncompleteCheckpointError(RuntimeError):
    """A checkpoint file is empty or truncated."""


def checkpoint_defect(filename: str) -> Optional[str]:
    """Why the local file ``filename`` is not a complete checkpoint:
    ``'missing'``, ``'empty (0 bytes)'`` or ``'truncated (N bytes, ...)'``;
    None when it is a complete zip archive, or a file of another format
    (an old ``torch.save`` one), which only loading can judge.

    Reads the first bytes and the zip directory at the end of the file.
    """
    if not osp.isfile(filename):
        return 'missing'
    size = osp.getsize(filename)
    if size == 0:
        return 'empty (0 bytes)'
    with open(filename, 'rb') as file:
        if file.read(len(ZIP_SIGNATURE)) != ZIP_SIGNATURE:
            return None
    try:
        with zipfile.ZipFile(filename):
            return None
    except zipfile.BadZipFile:
        return (f'truncated ({size} bytes, without the end of the zip archive '
                'torch.save writes)')


def newest_complete_checkpoint(filename: str) -> Optional[str]:
    """The complete checkpoint beside ``filename`` whose name differs from it
    in its numbers only, with the highest numbers (``iter_10.pth`` for
    ``iter_20.pth``, ``epoch_3.pth`` for ``epoch_4.pth``); None if there is
    none."""
    folder, name = osp.split(osp.abspath(filename))
    pattern = re.compile(''.join(
        r'(\d+)' if part.isdigit() else re.escape(part)
        for part in re.split(r'(\d+)', name)))
    candidates = []
    for other in os.listdir(folder):
        match = pattern.fullmatch(other)
        path = osp.join(folder, other)
        if match and other != name and checkpoint_defect(path) is None:
            candidates.append((tuple(map(int, match.groups())), path))
    return max(candidates)[1] if candidates else None


def beside_message(filename: str) -> str:
    """A sentence naming the newest complete checkpoint beside ``filename``."""
    newest = newest_complete_checkpoint(filename)
    if newest is None:
        return 'There is no complete checkpoint of the same series beside it.'
    return f'The newest complete checkpoint beside it is {newest}.'


def check_checkpoint_file(filename: str) -> None:
    """Raise :class:`IncompleteCheckpointError` when ``filename`` is a local
    file that is empty or truncated, naming it and the newest complete
    checkpoint beside it. Missing files and other schemes are left to the
    loader, whose errors name them."""
    if not is_local_path(filename):
        return
    defect = checkpoint_defect(filename)
    if defect is None or defect == 'missing':
        return
    raise IncompleteCheckpointError(
        f'The checkpoint {filename} is {defect}: it was not written to the end '
        '(a full disk, or a job stopped while saving it) and can not be '
        f'loaded. {beside_message(filename)}')


def save_under_partial_name(save_checkpoint: Callable) -> Callable:
    """Wrap ``Runner.save_checkpoint`` so that a local checkpoint is written
    as ``<filename>.part`` and renamed to ``filename`` once complete.

    A save that fails (``No space left on device``) removes its partial file
    and raises an OSError naming the checkpoint and the newest complete one;
    ``filename`` and ``last_checkpoint`` (which ``CheckpointHook`` writes after
    the save returns) never name an incomplete file. Saves to other backends
    and on ranks other than 0 (which write nothing) go through unchanged.
    """
    signature = inspect.signature(save_checkpoint)

    @functools.wraps(save_checkpoint)
    def save(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        out_dir, filename = call.arguments['out_dir'], call.arguments['filename']
        backend = get_file_backend(
            out_dir, backend_args=call.arguments.get('backend_args'))
        if (not is_main_process() or call.arguments.get('file_client_args')
                or not isinstance(backend, LocalBackend)):
            return save_checkpoint(*args, **kwargs)
        final = osp.join(out_dir, filename)
        partial = final + PARTIAL_SUFFIX
        call.arguments['filename'] = filename + PARTIAL_SUFFIX
        try:
            save_checkpoint(*call.args, **call.kwargs)
            os.replace(partial, final)
        except OSError as error:
            raise OSError(
                error.errno,
                f'The checkpoint {final} could not be written ({error}); its '
                f'partial file is removed. {beside_message(final)}') from error
        finally:
            if osp.exists(partial):
                os.remove(partial)

    return save


def resumable_checkpoint(filename: str) -> Tuple[str, Optional[str]]:
    """The checkpoint an automatic resume (the one ``last_checkpoint`` names,
    ``filename``) continues from, and a warning or None.

    ``filename`` itself, unless it is missing, empty or truncated; then the
    newest complete checkpoint beside it, with a warning naming both.

    Raises:
        IncompleteCheckpointError: ``filename`` is incomplete and no complete
            checkpoint of its series is beside it.
    """
    defect = checkpoint_defect(filename) if is_local_path(filename) else None
    if defect is None:
        return filename, None
    newest = newest_complete_checkpoint(filename)
    if newest is None:
        raise IncompleteCheckpointError(
            f'Can not resume: {filename}, the checkpoint that last_checkpoint '
            f'names, is {defect}, and no complete checkpoint of its series is '
            'beside it. Train without --resume, or name the checkpoint to resume '
            'from in load_from.')
    return newest, (
        f'{filename}, the checkpoint that last_checkpoint names, is {defect}; '
        f'resuming from {newest}, the newest complete checkpoint beside it.')
