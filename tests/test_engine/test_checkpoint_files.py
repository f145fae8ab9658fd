import errno
import os

import pytest
import torch

from mmseg_csl.engine import (
    IncompleteCheckpointError,
    check_checkpoint_file,
    checkpoint_defect,
    newest_complete_checkpoint,
)
from mmseg_csl.engine.checkpoint_files import (
    resumable_checkpoint,
    save_under_partial_name,
)


def write_checkpoint(path, size: int = 1000) -> str:
    torch.save({'state_dict': {'weight': torch.arange(size, dtype=torch.float32)}},
               path)
    return str(path)


def truncate(path, fraction: float = 0.5) -> None:
    with open(path, 'r+b') as file:
        file.truncate(int(os.path.getsize(path) * fraction))


def test_a_whole_checkpoint_has_no_defect_and_a_cut_one_is_truncated(tmp_path):
    path = write_checkpoint(tmp_path / 'iter_2.pth')
    assert checkpoint_defect(path) is None
    truncate(path)
    assert checkpoint_defect(path).startswith('truncated (')
    with pytest.raises(RuntimeError, match='failed reading zip archive'):
        torch.load(path, weights_only=True)


def test_missing_empty_and_other_formats(tmp_path):
    assert checkpoint_defect(str(tmp_path / 'none.pth')) == 'missing'
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert checkpoint_defect(str(tmp_path / 'empty.pth')) == 'empty (0 bytes)'
    legacy = tmp_path / 'legacy.pth'
    torch.save({'a': 1}, legacy, _use_new_zipfile_serialization=False)
    assert checkpoint_defect(str(legacy)) is None


def test_newest_complete_checkpoint_of_the_same_series(tmp_path):
    for step in (5, 10, 20):
        write_checkpoint(tmp_path / f'iter_{step}.pth')
    write_checkpoint(tmp_path / 'best_mIoU_iter_30.pth')
    truncate(tmp_path / 'iter_20.pth')
    (tmp_path / 'iter_40.pth.part').write_bytes(b'PK\x03\x04')

    newest = newest_complete_checkpoint(str(tmp_path / 'iter_20.pth'))
    assert newest == str(tmp_path / 'iter_10.pth')
    assert newest_complete_checkpoint(str(tmp_path / 'iter_5.pth')) == str(
        tmp_path / 'iter_10.pth')
    assert newest_complete_checkpoint(str(tmp_path / 'model.pth')) is None


def test_check_names_the_file_and_the_newest_complete_one(tmp_path):
    write_checkpoint(tmp_path / 'iter_10.pth')
    path = write_checkpoint(tmp_path / 'iter_20.pth')
    check_checkpoint_file(path)
    truncate(path)
    with pytest.raises(IncompleteCheckpointError) as error:
        check_checkpoint_file(path)
    message = str(error.value)
    assert f'The checkpoint {path} is truncated' in message
    assert f'newest complete checkpoint beside it is {tmp_path}/iter_10.pth' in message
    # left to the loaders, whose errors name them
    check_checkpoint_file(str(tmp_path / 'absent.pth'))
    check_checkpoint_file('open-mmlab://resnet50_v1c')


def fake_runner_save(out_dir, filename, file_client_args=None,
                     save_optimizer=True, backend_args=None, data=b''):
    """Runner.save_checkpoint's arguments; writes ``data`` as mmengine's
    LocalBackend.put does."""
    with open(os.path.join(out_dir, filename), 'wb') as file:
        file.write(data)


def test_a_checkpoint_is_renamed_once_written(tmp_path):
    save = save_under_partial_name(fake_runner_save)
    save(str(tmp_path), 'iter_1.pth', None, data=b'PK\x03\x04 whole')
    assert sorted(os.listdir(tmp_path)) == ['iter_1.pth']
    assert (tmp_path / 'iter_1.pth').read_bytes() == b'PK\x03\x04 whole'


def test_a_full_disk_leaves_no_checkpoint_under_its_name(tmp_path):
    write_checkpoint(tmp_path / 'iter_10.pth')

    def full_disk(out_dir, filename, file_client_args=None, backend_args=None):
        with open(os.path.join(out_dir, filename), 'wb') as file:
            file.write(b'PK\x03\x04 half')
        raise OSError(errno.ENOSPC, 'No space left on device')

    with pytest.raises(OSError) as error:
        save_under_partial_name(full_disk)(str(tmp_path), filename='iter_20.pth')
    assert error.value.errno == errno.ENOSPC
    message = str(error.value)
    assert f'{tmp_path}/iter_20.pth could not be written' in message
    assert 'No space left on device' in message
    assert f'beside it is {tmp_path}/iter_10.pth' in message
    assert sorted(os.listdir(tmp_path)) == ['iter_10.pth']


def test_resume_skips_a_truncated_last_checkpoint(tmp_path):
    write_checkpoint(tmp_path / 'iter_10.pth')
    last = write_checkpoint(tmp_path / 'iter_20.pth')
    assert resumable_checkpoint(last) == (last, None)

    truncate(last)
    resumed, warning = resumable_checkpoint(last)
    assert resumed == str(tmp_path / 'iter_10.pth')
    assert warning.startswith(f'{last}, the checkpoint that last_checkpoint names, '
                              'is truncated')
    assert f'resuming from {resumed}' in warning
    assert resumable_checkpoint(str(tmp_path / 'iter_30.pth'))[0] == resumed

    os.remove(tmp_path / 'iter_10.pth')
    with pytest.raises(IncompleteCheckpointError, match='Can not resume'):
        resumable_checkpoint(last)
