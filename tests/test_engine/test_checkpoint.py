import copy
import math
import os
import pickle
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader, Runner

from mmseg_csl.engine import load_from_local, safe_checkpoint_loading
from mmseg_csl.engine.checkpoint import history_buffer_statistic
from tests.tool_utils import tiny_experiment_config


class RecordStartHook(Hook):
    """Records the state a training run starts from."""

    def before_train(self, runner) -> None:
        self.iter = runner.iter
        self.optimizer_state = copy.deepcopy(
            runner.optim_wrapper.optimizer.state_dict()['state'])
        self.losses = runner.message_hub.get_scalar('train/loss').data[0].copy()


def make_runner(tmp_path, max_iters: int, name: str, resume: bool = False,
                safe_loading: bool = True) -> Runner:
    cfg = tiny_experiment_config(tmp_path / 'data', max_iters=max_iters)
    cfg.update(work_dir=str(tmp_path / 'work'), experiment_name=name, resume=resume,
               log_level='WARNING')
    if safe_loading:
        cfg['default_hooks']['safe_checkpoint_loading'] = {
            'type': 'SafeCheckpointLoadingHook'}
    return Runner.from_cfg(Config(cfg))


def test_resume_continues_training(tmp_path):
    make_runner(tmp_path, max_iters=2, name='first').train()
    checkpoint_path = str(tmp_path / 'work' / 'iter_2.pth')
    checkpoint = load_from_local(checkpoint_path)

    runner = make_runner(tmp_path, max_iters=4, name='resumed', resume=True)
    start = RecordStartHook()
    runner.register_hook(start)
    runner.train()

    assert start.iter == 2
    saved_state = checkpoint['optimizer']['state']
    assert saved_state.keys() == start.optimizer_state.keys()
    for key, state in saved_state.items():
        torch.testing.assert_close(start.optimizer_state[key]['momentum_buffer'],
                                   state['momentum_buffer'])
    saved_losses = checkpoint['message_hub']['log_scalars']['train/loss'].data[0]
    np.testing.assert_array_equal(start.losses, saved_losses)
    assert runner.iter == 4
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
    assert (tmp_path / 'work' / 'iter_4.pth').is_file()


def leave_mark(path: str) -> None:
    """What unpickling a foreign object would run."""
    with open(path, 'w') as f:
        f.write('executed')


class ForeignObject:

    def __init__(self, mark: str) -> None:
        self.mark = mark

    def __reduce__(self):
        return leave_mark, (self.mark, )


class ShellCommand(ForeignObject):

    def __reduce__(self):
        return os.system, (f'touch {self.mark}', )


@pytest.mark.parametrize('payload, global_name', [
    (ForeignObject, f'{leave_mark.__module__}.leave_mark'),
    (ShellCommand, f'{os.system.__module__}.system'),
])
def test_refuses_foreign_objects_without_running_them(tmp_path, payload, global_name):
    mark = tmp_path / 'executed'
    path = str(tmp_path / 'foreign.pth')
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': payload(str(mark))}, path)

    with pytest.raises(pickle.UnpicklingError) as error, safe_checkpoint_loading():
        CheckpointLoader.load_checkpoint(path)
    message = str(error.value)
    assert path in message
    assert global_name in message
    assert 'torch.load(path, weights_only=False)' in message
    assert not mark.exists()


class HistoryBufferAttribute:

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    assert history_buffer_statistic(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match="'system'"):
        history_buffer_statistic(os, 'system')
    path = str(tmp_path / 'getattr.pth')
    torch.save({'meta': HistoryBufferAttribute()}, path)
    with pytest.raises(pickle.UnpicklingError, match=re.escape(path)):
        load_from_local(path)


def test_loads_numpy1_pickles(tmp_path):
    numpy2 = tmp_path / 'numpy2.pth'
    content = {'array': np.arange(3.0), 'scalar': np.float64(0.5)}
    torch.save(content, numpy2, _use_new_zipfile_serialization=False)
    data = numpy2.read_bytes()
    assert b'numpy._core.multiarray' in data
    # numpy 1.x pickles the same functions under numpy.core.
    numpy1 = tmp_path / 'numpy1.pth'
    numpy1.write_bytes(
        data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))

    loaded = load_from_local(str(numpy1))
    np.testing.assert_array_equal(loaded['array'], content['array'])
    assert loaded['scalar'] == content['scalar']


def test_safe_loading_is_scoped_to_the_block(tmp_path):
    mmengine_loader = CheckpointLoader._get_checkpoint_loader('work/iter_2.pth')
    assert mmengine_loader is not load_from_local
    safe_globals = set(torch.serialization.get_safe_globals())
    path = str(tmp_path / 'hub.pth')
    torch.save({'buffer': HistoryBuffer([1.0, 2.0], [1, 1])}, path)

    with safe_checkpoint_loading():
        assert CheckpointLoader._get_checkpoint_loader('work/iter_2.pth') is \
            load_from_local
        assert CheckpointLoader._get_checkpoint_loader('https://x/y.pth') is not \
            load_from_local
        loaded = CheckpointLoader.load_checkpoint(path)
    assert loaded['buffer'].current() == 2.0
    # Outside the block: mmengine's loader, torch's allow-list, torch's default.
    assert CheckpointLoader._get_checkpoint_loader('work/iter_2.pth') is mmengine_loader
    assert set(torch.serialization.get_safe_globals()) == safe_globals
    with pytest.raises(pickle.UnpicklingError):
        CheckpointLoader.load_checkpoint(path)


def test_restores_the_loader_after_an_error(tmp_path):
    mmengine_loader = CheckpointLoader._schemes['']
    with pytest.raises(FileNotFoundError), safe_checkpoint_loading():
        CheckpointLoader.load_checkpoint(str(tmp_path / 'missing.pth'))
    assert CheckpointLoader._schemes[''] is mmengine_loader


def test_changes_nothing_before_torch_2_6(monkeypatch):
    monkeypatch.setattr(torch, '__version__', '2.5.1')
    monkeypatch.setattr(CheckpointLoader, '_schemes', {'': torch.load})
    with safe_checkpoint_loading():
        assert CheckpointLoader._schemes == {'': torch.load}
