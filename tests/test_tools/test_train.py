import math

import pytest
import torch
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


def test_empty_labeled_split_is_named(tiny_semi_config, tmp_path):
    split = tmp_path / 'labeled.txt'
    split.write_text('')
    result = run_tool(['train.py', tiny_semi_config, '--work-dir', tmp_path / 'w',
                       '--cfg-options',
                       f'train_dataloader.dataset.datasets.0.ann_file={split}'],
                      check=False)
    assert result.returncode != 0
    assert f"ValueError: BaseSegDataset with ann_file '{split}' has no samples" \
        in result.stdout
    assert 'need at least one array' not in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the no-GPU case')
@pytest.mark.parametrize('options, precision', [
    (['--amp'], 'bfloat16'), (['--amp-dtype', 'float16'], 'float16')])
def test_mixed_precision_on_cpu_says_what_to_do(tiny_config, tmp_path, options,
                                                precision):
    result = run_tool(['train.py', tiny_config, '--work-dir', tmp_path, *options],
                      check=False)
    assert result.returncode != 0
    assert (f'RuntimeError: {precision} mixed precision (AmpOptimWrapper, asked '
            'for by --amp') in result.stdout
    assert 'train in float32 with --amp-dtype float32, or on a GPU' in result.stdout
    assert 'only available training on gpu' not in result.stdout


def test_slurm_launcher_outside_slurm_says_what_is_missing(tiny_config, tmp_path):
    result = run_tool(['train.py', tiny_config, '--work-dir', tmp_path,
                       '--launcher', 'slurm'], check=False)
    assert result.returncode != 0
    assert ('RuntimeError: --launcher slurm reads the environment variables '
            'SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST') in result.stdout
    assert 'missing: SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST' in result.stdout
    assert 'KeyError' not in result.stdout


def test_resume_without_checkpoint_says_it_starts_from_scratch(tiny_config,
                                                               tmp_path):
    (tmp_path / 'iter_5.pth').write_bytes(b'')  # no last_checkpoint names it
    result = run_tool(['train.py', tiny_config, '--work-dir', tmp_path, '--resume',
                       '--cfg-options', 'train_cfg.max_iters=1'])
    assert (f'--resume: the work directory {tmp_path} has no checkpoint record '
            '(last_checkpoint), so training starts from scratch, at iteration 0. '
            'It holds iter_5.pth: to resume from one, add --cfg-options '
            'load_from=<file> to --resume.') in result.stdout
    assert [record['iter'] for record in training_records(tmp_path)] == [1]
