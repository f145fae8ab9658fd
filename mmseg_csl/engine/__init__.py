from .checkpoint import (
    load_from_local,
    safe_checkpoint_globals,
    safe_checkpoint_loading,
)
from .checkpoint_files import (
    IncompleteCheckpointError,
    check_checkpoint_file,
    checkpoint_defect,
    newest_complete_checkpoint,
)
from .checkpoint_fit import (
    CheckpointMismatchError,
    fit_checkpoint,
    load_checkpoint_exactly,
)
from .collective_timeout import (
    CollectiveTimeoutError,
    collective_timeout_reported,
    set_default_collective_timeout,
)
from .cpu_distributed import close_distributed, setup_cpu_distributed
from .dry_run import DryRunReport, dry_run, load_config, prepare_dry_run
from .hooks import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .launcher_env import check_launcher_env
from .seg_map_checks import add_seg_map_checks
from .semi_config import expand_semi_config

__all__ = [
    'load_from_local', 'safe_checkpoint_globals', 'safe_checkpoint_loading',
    'CollectiveTimeoutError', 'collective_timeout_reported',
    'set_default_collective_timeout',
    'IncompleteCheckpointError', 'check_checkpoint_file', 'checkpoint_defect',
    'newest_complete_checkpoint', 'CheckpointMismatchError', 'fit_checkpoint',
    'load_checkpoint_exactly',
    'close_distributed', 'setup_cpu_distributed', 'DryRunReport', 'dry_run',
    'load_config', 'prepare_dry_run', 'add_seg_map_checks', 'check_launcher_env',
    'expand_semi_config',
    *_hooks_all
]
