from typing import Any

from mmengine.registry import Registry


def type_name(cfg: Any) -> str:
    """The type a config names, without a scope prefix (``'mmseg.Resize'``
    gives ``'Resize'``; a class gives its name); '' for anything else."""
    name = cfg.get('type', '') if isinstance(cfg, dict) else ''
    name = getattr(name, '__name__', name)
    return name.split('.')[-1]


def registered_class(cfg: dict, registry: Registry, what: str) -> type:
    """The class that ``cfg['type']`` names in ``registry`` (or its ``_scope_``),
    or ``cfg['type']`` itself where it is a class: what a config will build,
    found before anything is built.

    Raises:
        KeyError: the type is not registered, naming it and ``what`` it is
            (e.g. ``'semi: model'``, ``'dataset'``).
    """
    type_ = cfg.get('type')
    if isinstance(type_, type):
        return type_
    with registry.switch_scope_and_registry(cfg.get('_scope_')) as scoped:
        found = scoped.get(type_)
    if found is None:
        raise KeyError(f'{what} type {type_!r} is not registered; is its package '
                       'imported (custom_imports)?')
    return found
