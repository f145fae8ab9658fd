"""Checkpoints that are whole and, where the run asks for it, fit the model."""
import functools
from typing import Optional

from mmengine.config import Config
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ..checkpoint_files import (
    check_checkpoint_file,
    resumable_checkpoint,
    save_under_partial_name,
)
from ..checkpoint_fit import fit_checkpoint
from .hook_configs import configured_hook

HOOK_KEY = 'checkpoint_check'


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Save only whole checkpoints, refuse incomplete ones, and (with
    ``strict``) load only checkpoints that fit the model.

    Before the runner loads anything (``before_run``) its
    ``save_checkpoint``, ``load_checkpoint`` and ``resume`` are wrapped:

    - a checkpoint is written as ``<name>.part`` and renamed when complete,
      so a save stopped by a full disk or a killed job leaves no truncated
      ``iter_N.pth`` and ``last_checkpoint`` never names one; a failed save
      removes its partial file and raises an error naming the checkpoint and
      the newest complete one;
    - loading an empty or truncated checkpoint (``load_from``, ``--resume``,
      ``tools/test.py``) raises an error that names the file, says it is
      incomplete and names the newest complete checkpoint beside it, where
      torch fails with "PytorchStreamReader failed reading zip archive";
    - resuming automatically (``resume=True``, ``tools/train.py --resume``,
      without ``load_from``) from a ``last_checkpoint`` that names a missing
      or incomplete file (written without this hook, or cut short by a copy)
      resumes from the newest complete checkpoint beside it, with a warning
      naming both.

    With ``strict=True`` (``tools/test.py`` sets it) every checkpoint loaded
    must fit the model exactly, up to the mapping between a plain segmentor
    and ``SemiSegmentor`` (``mmseg_csl.engine.checkpoint_fit``); otherwise
    the run stops with the weights that differ, their keys and shapes,
    instead of scoring the initial weights mmengine's non-strict loading
    leaves. Training keeps mmengine's non-strict ``load_from`` by default,
    which fine-tuning from another model needs.

    Writing and checking the files costs a rename and a read of the zip
    directory per checkpoint; the weights and the training are unchanged.

    Args:
        strict (bool): Whether checkpoints must fit the model exactly.
            Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self._loading: Optional[str] = None

    def before_run(self, runner) -> None:
        if getattr(runner.load_checkpoint, 'checks_checkpoints', False):
            return
        load_checkpoint, resume = runner.load_checkpoint, runner.resume

        @functools.wraps(load_checkpoint)
        def load_complete_checkpoint(filename: str, *args, **kwargs):
            check_checkpoint_file(filename)
            self._loading = filename
            try:
                return load_checkpoint(filename, *args, **kwargs)
            finally:
                self._loading = None

        @functools.wraps(resume)
        def resume_from_complete_checkpoint(filename: str, *args, **kwargs):
            if runner.cfg.get('load_from') is None:
                filename, warning = resumable_checkpoint(filename)
                if warning is not None:
                    runner.logger.warning(warning)
            return resume(filename, *args, **kwargs)

        load_complete_checkpoint.checks_checkpoints = True
        runner.load_checkpoint = load_complete_checkpoint
        runner.resume = resume_from_complete_checkpoint
        runner.save_checkpoint = save_under_partial_name(runner.save_checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.strict:
            return
        note = fit_checkpoint(runner.model, checkpoint, self._loading)
        if note:
            runner.logger.info(f'Loaded from {self._loading}: {note}.')


def add_checkpoint_check(cfg: Config, strict: bool = False) -> None:
    """Add ``CheckpointCheckHook`` to ``cfg.default_hooks`` unless a hook of
    that type is in its default or custom hooks; with ``strict``, the hook
    (added or found) loads strictly."""
    hook = configured_hook(cfg, 'CheckpointCheckHook')
    if hook is None:
        settings = dict(type='CheckpointCheckHook')
        if strict:
            settings['strict'] = True
        cfg.merge_from_dict({f'default_hooks.{HOOK_KEY}': settings})
    elif strict:
        hook['strict'] = True
