import pytest

from mmseg_csl.engine import check_launcher_env
from mmseg_csl.engine.launcher_env import LAUNCHER_VARIABLES

SLURM_TASK = {'SLURM_PROCID': '0', 'SLURM_NTASKS': '2', 'SLURM_NODELIST': 'node1'}


@pytest.fixture
def bare_env(monkeypatch):
    for variables, _ in LAUNCHER_VARIABLES.values():
        for name in variables:
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_slurm_launcher_outside_a_slurm_task_names_what_is_missing(bare_env):
    bare_env.setenv('SLURM_NTASKS', '2')
    with pytest.raises(RuntimeError) as error:
        check_launcher_env('slurm')
    assert str(error.value) == (
        '--launcher slurm reads the environment variables SLURM_PROCID, '
        'SLURM_NTASKS, SLURM_NODELIST, which srun, for each task of a SLURM job '
        '(tools/slurm_train.sh, tools/slurm_test.sh) sets; missing: SLURM_PROCID, '
        'SLURM_NODELIST. Start the tool that way, or run it in one process with '
        '--launcher none.')


def test_pytorch_launcher_without_torchrun_names_what_is_missing(bare_env):
    with pytest.raises(RuntimeError, match='missing: RANK, WORLD_SIZE, '
                       'MASTER_ADDR, MASTER_PORT'):
        check_launcher_env('pytorch')


def test_launchers_with_their_environment_pass(bare_env):
    for name, value in SLURM_TASK.items():
        bare_env.setenv(name, value)
    check_launcher_env('slurm')
    check_launcher_env('none')
    check_launcher_env('mpi')
