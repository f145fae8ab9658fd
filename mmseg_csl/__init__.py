"""mmseg_csl: semi-supervised semantic segmentation for MMSegmentation 1.x.

Importing the package registers its components into ``mmseg.registry``.
"""
from . import registry  # noqa: F401  (the `mmseg_csl::` config prefix and scope)
from .datasets import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .version import __version__
