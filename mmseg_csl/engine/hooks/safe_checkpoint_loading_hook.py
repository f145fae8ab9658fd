"""Weights-only checkpoint loading for the runner of a run that asks for it."""
import functools

from mmengine.config import Config
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ..checkpoint import needs_safe_loading, safe_checkpoint_loading
from .hook_configs import configured_hook

HOOK_KEY = 'safe_checkpoint_loading'


@HOOKS.register_module()
class SafeCheckpointLoadingHook(Hook):
    """Make this runner load its checkpoints weights-only, with the globals
    of mmengine checkpoints allowed (``mmseg_csl.engine.checkpoint``).

    With PyTorch >= 2.6 ``torch.load`` refuses mmengine's checkpoints by
    default (they hold the message hub), so ``--resume`` and ``load_from``
    fail; with this hook they work, and a checkpoint holding any other
    pickled object is refused with an error naming the file and the object.

    Before the runner loads anything (``before_run``, which precedes
    ``load_or_resume`` in training, validation and testing) its
    ``load_checkpoint`` is wrapped so that every call runs inside
    :func:`~mmseg_csl.engine.checkpoint.safe_checkpoint_loading`; resuming
    goes through it too. Other runners, and checkpoints loaded elsewhere in
    the process, keep mmengine's loader. With PyTorch < 2.6 the hook does
    nothing.

    This package's configs list it in ``default_hooks``; ``tools/train.py``
    and ``tools/test.py`` add it to configs without it
    (:func:`add_safe_checkpoint_loading`).
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        if not needs_safe_loading():
            return
        load_checkpoint = runner.load_checkpoint
        if getattr(load_checkpoint, 'loads_weights_only', False):
            return

        @functools.wraps(load_checkpoint)
        def load_weights_only(*args, **kwargs):
            with safe_checkpoint_loading():
                return load_checkpoint(*args, **kwargs)

        load_weights_only.loads_weights_only = True
        runner.load_checkpoint = load_weights_only


def add_safe_checkpoint_loading(cfg: Config) -> None:
    """Add ``SafeCheckpointLoadingHook`` to ``cfg.default_hooks`` unless a
    hook of that type is already in its default or custom hooks."""
    if configured_hook(cfg, 'SafeCheckpointLoadingHook') is not None:
        return
    cfg.merge_from_dict(
        {f'default_hooks.{HOOK_KEY}': dict(type='SafeCheckpointLoadingHook')})
