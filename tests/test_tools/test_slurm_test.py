import pytest

from tests.tool_utils import evaluation_metrics, free_port, last_validation, run_tool


def test_slurm_test_evaluates_checkpoint(tiny_config, trained_work_dir, slurm_stubs,
                                         tmp_path):
    env = dict(slurm_stubs, GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1',
               MASTER_PORT=str(free_port()))
    result = run_tool([
        'slurm_test.sh', 'stub-partition', 'tiny-job', tiny_config,
        trained_work_dir / 'iter_2.pth', '--work-dir', tmp_path / 'work'
    ], env=env)

    assert 'distributed run on CPU (gloo), rank 0 of 2' in result.stdout
    metrics = evaluation_metrics(tmp_path / 'work')
    assert metrics['mIoU'] == pytest.approx(last_validation(trained_work_dir)['mIoU'])
