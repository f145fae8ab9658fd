import pytest
import torch

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


def changed_checkpoint(source, path, change) -> str:
    """``source`` with its state dict changed by ``change``, saved to ``path``."""
    checkpoint = torch.load(source, weights_only=False)
    checkpoint['state_dict'] = change(checkpoint['state_dict'])
    torch.save(checkpoint, path)
    return str(path)


def test_a_checkpoint_of_another_num_classes_is_not_scored(tiny_config,
                                                           trained_work_dir, tmp_path):
    def two_classes(state):
        return {key: value[:2] if key.startswith('decode_head.conv_seg') else value
                for key, value in state.items()}

    checkpoint = changed_checkpoint(trained_work_dir / 'iter_2.pth',
                                    tmp_path / 'two.pth', two_classes)
    result = run_tool(['test.py', tiny_config, checkpoint, '--work-dir',
                       tmp_path / 'work'], check=False)
    assert result.returncode != 0
    assert f'The checkpoint {checkpoint} does not fit the model' in result.stdout
    assert ('decode_head.conv_seg.weight (checkpoint (2, 8, 1, 1), model '
            '(3, 8, 1, 1))') in result.stdout
    assert not list((tmp_path / 'work').glob('*/*.json'))  # no metrics


@pytest.mark.parametrize('semi_config', [False, True])
def test_plain_and_semi_checkpoints_load_across_configs(
        semi_config, tiny_config, tiny_semi_config, trained_work_dir, tmp_path):
    """A SemiSegmentor checkpoint (student and EMA teacher) scores its student
    with the plain config; a plain checkpoint loads into the SemiSegmentor."""
    source = trained_work_dir / 'iter_2.pth'
    if semi_config:
        config, checkpoint = tiny_semi_config, str(source)
    else:
        def wrapped(state):
            return {**{f'segmentor.{key}': value for key, value in state.items()},
                    **{f'teacher.{key}': value * 0 for key, value in state.items()}}

        config = tiny_config
        checkpoint = changed_checkpoint(source, tmp_path / 'semi.pth', wrapped)
    run_tool(['test.py', config, checkpoint, '--work-dir', tmp_path / 'work'])
    metrics = evaluation_metrics(tmp_path / 'work')
    assert metrics['mIoU'] == pytest.approx(last_validation(trained_work_dir)['mIoU'])


def test_a_truncated_checkpoint_is_named(tiny_config, trained_work_dir, tmp_path):
    checkpoint = tmp_path / 'iter_2.pth'
    data = (trained_work_dir / 'iter_2.pth').read_bytes()
    checkpoint.write_bytes(data[:len(data) // 2])
    result = run_tool(['test.py', tiny_config, checkpoint, '--work-dir',
                       tmp_path / 'work'], check=False)
    assert result.returncode != 0
    assert f'The checkpoint {checkpoint} is truncated' in result.stdout
    assert 'There is no complete checkpoint of the same series beside it' in (
        result.stdout)
