"""The environment a launcher of the tools reads, checked before it is read.

``--launcher pytorch`` starts ``torch.distributed`` from the variables that
``torchrun`` (``tools/dist_train.sh``) sets for each process, ``--launcher
slurm`` from those that ``srun`` (``tools/slurm_train.sh``) sets for each
task. Without them mmengine fails with a bare ``KeyError: 'SLURM_NODELIST'``
or ``KeyError: 'RANK'``; :func:`check_launcher_env` names what is missing
and how the tool is meant to be started instead.
"""
import os
from typing import Dict, Tuple

# The variables each launcher reads, and what sets them.
LAUNCHER_VARIABLES: Dict[str, Tuple[Tuple[str, ...], str]] = {
    'pytorch': (('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
                'torchrun (tools/dist_train.sh, tools/dist_test.sh)'),
    'slurm': (('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
              'srun, for each task of a SLURM job (tools/slurm_train.sh, '
              'tools/slurm_test.sh)'),
}


def check_launcher_env(launcher: str) -> None:
    """Refuse to start ``launcher`` without the environment variables it
    reads (``LAUNCHER_VARIABLES``); ``'none'`` and ``'mpi'`` need none here.

    Raises:
        RuntimeError: naming the launcher, the missing variables, what sets
            them, and ``--launcher none`` for one process.
    """
    if launcher not in LAUNCHER_VARIABLES:
        return
    variables, source = LAUNCHER_VARIABLES[launcher]
    missing = [name for name in variables if name not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher {launcher} reads the environment variables '
            f'{", ".join(variables)}, which {source} sets; missing: '
            f'{", ".join(missing)}. Start the tool that way, or run it in one '
            'process with --launcher none.')
