import pytest

from tests.tool_utils import evaluation_metrics, last_validation, run_tool


def test_test_evaluates_checkpoint(tiny_config, trained_work_dir, tmp_path):
    result = run_tool([
        'test.py', tiny_config, trained_work_dir / 'iter_2.pth',
        '--work-dir', tmp_path / 'work', '--out', tmp_path / 'predictions',
        '--show-dir', tmp_path / 'painted',
        '--cfg-options', 'default_hooks.visualization.interval=1'
    ])
    metrics = evaluation_metrics(tmp_path / 'work')
    assert 'mIoU' in result.stdout
    # The checkpoint was validated on the same images at the end of training.
    assert metrics['mIoU'] == pytest.approx(last_validation(trained_work_dir)['mIoU'])
    assert len(list((tmp_path / 'predictions').glob('*.png'))) == 4
    assert len(list((tmp_path / 'painted').rglob('*.png'))) == 4
