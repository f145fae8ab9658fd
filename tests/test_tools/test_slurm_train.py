from pathlib import Path

from tests.tool_utils import free_port, run_tool


def test_slurm_train_runs_one_task_per_gpu(tiny_config, slurm_stubs, tmp_path):
    work_dir = tmp_path / 'work'
    env = dict(slurm_stubs, GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1',
               MASTER_PORT=str(free_port()))
    result = run_tool(
        ['slurm_train.sh', 'stub-partition', 'tiny-job', tiny_config, work_dir],
        env=env)

    calls = Path(slurm_stubs['STUB_LOG']).read_text()
    assert '-p stub-partition --job-name=tiny-job --gres=gpu:2 --ntasks=2' in calls
    assert 'scontrol show hostname stub-node' in calls
    assert 'distributed run on CPU (gloo), rank 0 of 2' in result.stdout
    assert (work_dir / 'iter_2.pth').is_file()
