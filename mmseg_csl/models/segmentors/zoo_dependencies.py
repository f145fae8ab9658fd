"""Optional OpenMMLab packages that some mmseg models are built from.

MaskFormer and Mask2Former heads derive from mmdet's heads, and ConvNeXt or
PoolFormer backbones come from mmpretrain (``type='mmpretrain.ConvNeXt'``).
Without those packages mmseg fails deep inside the build (a head built on
``BaseModule`` rejecting its arguments, an unknown registry scope); this
check names the missing package before the build.
"""
import importlib.util
from typing import Any, Iterator

from ...utils import config_dicts

# Types, other than 'mmdet.*' and 'mmpretrain.*', that need a package.
_TYPES_NEEDING = {'MaskFormerHead': 'mmdet', 'Mask2FormerHead': 'mmdet'}
_SCOPED_PACKAGES = ('mmdet', 'mmpretrain')


def _types(cfg: Any) -> Iterator[str]:
    """Every ``type`` string in a nested config."""
    for node in config_dicts(cfg):
        if isinstance(node.get('type'), str):
            yield node['type']


def needed_packages(cfg: Any) -> set:
    """Optional packages (mmdet, mmpretrain) the model config ``cfg``
    needs."""
    packages = set()
    for type_name in _types(cfg):
        scope = type_name.split('.', 1)[0] if '.' in type_name else None
        if scope in _SCOPED_PACKAGES:
            packages.add(scope)
        elif type_name in _TYPES_NEEDING:
            packages.add(_TYPES_NEEDING[type_name])
    return packages


def check_zoo_dependencies(cfg: Any) -> None:
    """Raise ImportError naming the optional packages that the model config
    ``cfg`` needs and that are not installed."""
    missing = sorted(package for package in needed_packages(cfg)
                     if importlib.util.find_spec(package) is None)
    if missing:
        users = sorted({type_name for type_name in _types(cfg)
                        if type_name.split('.', 1)[0] in missing
                        or _TYPES_NEEDING.get(type_name) in missing})
        raise ImportError(
            f'the segmentor uses {users}, which need {missing}: install '
            f"them with `pip install 'mmseg_csl[{','.join(missing)}]'` "
            "(or 'mmseg_csl[zoo]' for both; docs/zoo.md)")
