"""Fixtures of the tool tests: one tiny experiment, trained once by
``tools/train.py``, a tiny semi-supervised one, and stand-ins for SLURM's
``srun`` and ``scontrol``."""
import os
from pathlib import Path
from typing import Dict

import pytest

from tests.tool_utils import (
    dump_config,
    run_tool,
    tiny_experiment_config,
    tiny_semi_experiment_config,
)

SRUN_STUB = r'''#!/usr/bin/env bash
# srun stand-in: logs its arguments, then runs the command once per task with
# the variables SLURM gives a task on one node.
echo "$@" >> "$STUB_LOG"
ntasks=1
while [ $# -gt 0 ]; do
    case $1 in
        --ntasks=*) ntasks=${1#*=}; shift ;;
        -p) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
pids=()
for ((rank = 0; rank < ntasks; rank++)); do
    SLURM_PROCID=$rank SLURM_LOCALID=$rank SLURM_NTASKS=$ntasks \
        SLURM_NODELIST=stub-node "$@" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
'''

SCONTROL_STUB = r'''#!/usr/bin/env bash
# scontrol stand-in: `scontrol show hostname NODELIST` names this machine.
echo "scontrol $*" >> "$STUB_LOG"
if [ "$1 $2" = "show hostname" ]; then echo 127.0.0.1; fi
'''


@pytest.fixture(scope='session')
def tiny_config(tmp_path_factory) -> str:
    """Config file of ``tiny_experiment_config`` (2 iterations, batch 2), with
    ``auto_scale_lr`` tuned for a batch of 4."""
    root = tmp_path_factory.mktemp('tiny_experiment')
    cfg = tiny_experiment_config(root / 'data')
    cfg['auto_scale_lr'] = {'enable': False, 'base_batch_size': 4}
    return dump_config(cfg, root / 'tiny_experiment.py')


@pytest.fixture(scope='session')
def tiny_semi_config(tmp_path_factory) -> str:
    """Config file of ``tiny_semi_experiment_config``: 3 iterations of batches
    of 1 labeled and 2 unlabeled images, from 4 labeled and 16 unlabeled."""
    root = tmp_path_factory.mktemp('tiny_semi_experiment')
    cfg = tiny_semi_experiment_config(root / 'data', max_iters=3, num_unlabeled=16)
    return dump_config(cfg, root / 'tiny_semi_experiment.py')


@pytest.fixture(scope='session')
def trained_work_dir(tiny_config, tmp_path_factory) -> Path:
    """Work dir of ``tools/train.py tiny_config --auto-scale-lr``."""
    work_dir = tmp_path_factory.mktemp('trained')
    run_tool(['train.py', tiny_config, '--work-dir', work_dir, '--auto-scale-lr'])
    return work_dir


@pytest.fixture
def slurm_stubs(tmp_path) -> Dict[str, str]:
    """Environment variables that put stand-ins of ``srun`` and ``scontrol``
    on ``PATH``; both log their calls to ``$STUB_LOG``."""
    bin_dir = tmp_path / 'stub_bin'
    bin_dir.mkdir()
    for name, text in (('srun', SRUN_STUB), ('scontrol', SCONTROL_STUB)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {
        'PATH': os.pathsep.join([str(bin_dir), os.environ['PATH']]),
        'STUB_LOG': str(tmp_path / 'stub.log'),
    }
