import math

import pytest
from mmengine.config import Config

from tests.data_utils import make_tiny_seg_dataset
from tests.tool_utils import evaluation_metrics, run_tool, training_records


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


def test_semi_key_trains_a_supervised_config(tiny_config, tmp_path):
    """A supervised config plus `semi`: tools/train.py trains CSL with the
    unlabeled folder, and tools/test.py evaluates its checkpoint."""
    make_tiny_seg_dataset(tmp_path / 'unlabeled', num_images=6, with_labels=False)
    images = tmp_path / 'unlabeled' / 'img_dir'
    leaf = tmp_path / 'semi.py'
    leaf.write_text(
        f"_base_ = ['{tiny_config}']\n"
        f"semi = dict(unlabeled=dict(data_root='{images}'), crop_size=(32, 32))\n")

    run_tool(['train.py', leaf, '--work-dir', tmp_path / 'work'])

    [dumped] = (tmp_path / 'work').glob('*/vis_data/config.py')
    expanded = Config.fromfile(str(dumped))
    assert 'semi' not in expanded and expanded.model.type == 'SemiSegmentor'
    assert expanded.train_dataloader.dataset.unlabeled.data_root == str(images)
    records = training_records(tmp_path / 'work')
    assert [record['iter'] for record in records] == [1, 2]
    assert all(math.isfinite(record['unsup.loss_s1']) for record in records)
    result = run_tool(['test.py', leaf, tmp_path / 'work' / 'iter_2.pth',
                       '--work-dir', tmp_path / 'test'])
    assert 'Load checkpoint from' in result.stdout
    assert 'do not match exactly' not in result.stdout  # every key loads
    assert 'mIoU' in evaluation_metrics(tmp_path / 'test')
