"""Walking the nested dicts of a config.

A config is a tree of dicts (``Config``'s ``ConfigDict`` among them), lists
and tuples. The places that read or rewrite one everywhere (pretrained
weights, SyncBN, image sizes, data roots, the types a model needs) walk it
with :func:`config_dicts`, so that each only says what to do with one dict.
"""
from typing import Any, Callable, Iterator, Optional


def config_dicts(node: Any,
                 enter: Optional[Callable[[str, Any], bool]] = None
                 ) -> Iterator[dict]:
    """Every dict nested in ``node`` (``node`` itself included), outermost
    first, depth first in the order of keys and items.

    A dict's values are read once the caller has had the dict, so that the
    caller may replace them (the walk then enters the new values) and add
    keys. Lists and tuples are entered item by item.

    Args:
        node: a config, or any part of one.
        enter: ``enter(key, value)`` says whether to enter the value under
            ``key`` of a dict; None enters every value.
    """
    if isinstance(node, dict):
        yield node
        children = [value for key, value in list(node.items())
                    if enter is None or enter(key, value)]
    elif isinstance(node, (list, tuple)):
        children = node
    else:
        return
    for child in children:
        yield from config_dicts(child, enter)
