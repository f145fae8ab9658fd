"""Finding a hook in a config, for the tools that add hooks to configs."""
from typing import Optional

from mmengine.config import Config, ConfigDict

from ..registry_lookup import type_name


def configured_hook(cfg: Config, hook_type: str) -> Optional[ConfigDict]:
    """The first hook config of type ``hook_type`` in ``cfg.default_hooks``
    or ``cfg.custom_hooks`` (as a name, a scoped name ``scope.Name`` or the
    class), or None; the config itself, so that changing it changes ``cfg``."""
    hooks = [*(cfg.get('default_hooks') or {}).values(),
             *(cfg.get('custom_hooks') or [])]
    return next((hook for hook in hooks if type_name(hook) == hook_type), None)
