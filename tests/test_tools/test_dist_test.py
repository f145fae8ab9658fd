import pytest

from tests.tool_utils import evaluation_metrics, free_port, last_validation, run_tool


def test_dist_test_on_cpu_gathers_all_results(tiny_config, trained_work_dir, tmp_path):
    result = run_tool([
        'dist_test.sh', tiny_config, trained_work_dir / 'iter_2.pth', '2',
        '--work-dir', tmp_path
    ], env={'PORT': str(free_port())})

    assert 'distributed run on CPU (gloo), rank 0 of 2' in result.stdout
    # Each rank tests half of the images; the metric is over all of them.
    metrics = evaluation_metrics(tmp_path)
    assert metrics['mIoU'] == pytest.approx(last_validation(trained_work_dir)['mIoU'])
