"""The ``mmseg_csl`` scope of mmengine: ``mmseg_csl::`` config paths and registries.

mmengine resolves ``_base_ = ['mmseg_csl::_base_/x.py']`` only for packages named
in ``mmengine.config.utils.MODULE2PACKAGE``; it then finds the file under
``<package>/.mim/configs`` and tags the outermost dicts with a ``type`` in it with
``_scope_='mmseg_csl'``, so building those dicts looks for registries of scope
``mmseg_csl`` (importing this module, ``mmseg_csl.registry``, to find them).
The registries below are those: children of mmseg's, with no entries of their
own, so every name resolves through mmseg and mmengine.

Components of this package are registered into ``mmseg.registry``, not here.
"""
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import Registry
from mmseg import registry as mmseg_registry


class _ScopeRegistry(Registry):
    """An empty registry of scope ``mmseg_csl`` below one of mmseg's."""

    def import_from_location(self) -> None:
        # mmseg registers its modules lazily, when its registry is first
        # searched; a search that starts here must trigger that import too.
        self.parent.import_from_location()


def _child(parent: Registry) -> Registry:
    return _ScopeRegistry(parent.name, parent=parent, scope='mmseg_csl')


# mmengine looks the value up with ``get_installed_path``, which for an editable
# (PEP 660) install points into site-packages; for a name that is not a
# distribution it falls back to ``importlib.util.find_spec``, and the folder of
# this module is the package folder for any kind of install.
MODULE2PACKAGE.setdefault('mmseg_csl', __name__)

RUNNERS = _child(mmseg_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mmseg_registry.RUNNER_CONSTRUCTORS)
LOOPS = _child(mmseg_registry.LOOPS)
HOOKS = _child(mmseg_registry.HOOKS)
DATASETS = _child(mmseg_registry.DATASETS)
DATA_SAMPLERS = _child(mmseg_registry.DATA_SAMPLERS)
TRANSFORMS = _child(mmseg_registry.TRANSFORMS)
MODELS = _child(mmseg_registry.MODELS)
MODEL_WRAPPERS = _child(mmseg_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(mmseg_registry.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child(mmseg_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child(mmseg_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(mmseg_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(mmseg_registry.PARAM_SCHEDULERS)
METRICS = _child(mmseg_registry.METRICS)
EVALUATOR = _child(mmseg_registry.EVALUATOR)
TASK_UTILS = _child(mmseg_registry.TASK_UTILS)
VISUALIZERS = _child(mmseg_registry.VISUALIZERS)
VISBACKENDS = _child(mmseg_registry.VISBACKENDS)
LOG_PROCESSORS = _child(mmseg_registry.LOG_PROCESSORS)
INFERENCERS = _child(mmseg_registry.INFERENCERS)
