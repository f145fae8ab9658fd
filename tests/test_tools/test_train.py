import math

import pytest

from tests.tool_utils import run_tool, training_records


def test_train_writes_checkpoint(trained_work_dir):
    assert (trained_work_dir / 'iter_2.pth').is_file()
    last = (trained_work_dir / 'last_checkpoint').read_text().strip()
    assert last.endswith('iter_2.pth')
    records = training_records(trained_work_dir)
    assert [record['iter'] for record in records] == [1, 2]
    assert all(math.isfinite(record['loss']) for record in records)


def test_auto_scale_lr_scales_by_batch_size(trained_work_dir):
    # lr 0.01 tuned for a batch of 4; one process with batch 2 halves it.
    first = training_records(trained_work_dir)[0]
    assert first['lr'] == pytest.approx(0.005)


def test_auto_scale_lr_needs_base_batch_size(tiny_config, tmp_path):
    result = run_tool(['train.py', tiny_config, '--work-dir', tmp_path,
                       '--auto-scale-lr', '--cfg-options', 'auto_scale_lr=None'],
                      check=False)
    assert result.returncode != 0
    assert 'auto_scale_lr = dict(base_batch_size=N)' in result.stdout
    assert not list(tmp_path.glob('*.pth'))
