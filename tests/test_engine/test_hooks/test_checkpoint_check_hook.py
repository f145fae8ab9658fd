import errno
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmseg_csl.engine import CheckpointMismatchError, IncompleteCheckpointError
from mmseg_csl.engine.hooks import add_checkpoint_check
from tests.tool_utils import tiny_experiment_config


class RecordStartHook(Hook):

    def before_train(self, runner) -> None:
        self.iter = runner.iter


def make_runner(tmp_path, max_iters: int, name: str, strict: bool = False,
                **settings) -> Runner:
    cfg = Config(tiny_experiment_config(tmp_path / 'data', max_iters=max_iters))
    cfg.merge_from_dict(dict({'log_level': 'WARNING', **settings},
                             work_dir=str(tmp_path / 'work'), experiment_name=name))
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.safe_checkpoint_loading = dict(
        type='SafeCheckpointLoadingHook')
    add_checkpoint_check(cfg, strict=strict)
    return Runner.from_cfg(cfg)


def log_text(runner: Runner) -> str:
    return Path(runner.log_dir, f'{runner.timestamp}.log').read_text()


def truncate(path: Path) -> None:
    with open(path, 'r+b') as file:
        file.truncate(path.stat().st_size // 2)


@pytest.fixture
def trained(tmp_path) -> Path:
    """Work dir of 2 iterations, with iter_1.pth and iter_2.pth."""
    make_runner(tmp_path, max_iters=2, name='first').train()
    work = tmp_path / 'work'
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    assert not list(work.glob('*.part'))
    return work


def test_resume_skips_a_truncated_newest_checkpoint(tmp_path, trained):
    truncate(trained / 'iter_2.pth')
    runner = make_runner(tmp_path, max_iters=3, name='resumed', resume=True)
    start = RecordStartHook()
    runner.register_hook(start)
    runner.train()

    assert start.iter == 1 and runner.iter == 3
    assert (f'{trained}/iter_2.pth, the checkpoint that last_checkpoint names, is '
            f'truncated') in log_text(runner)
    assert f'resuming from {trained}/iter_1.pth' in log_text(runner)


def test_load_from_a_truncated_checkpoint_names_it(tmp_path, trained):
    truncate(trained / 'iter_2.pth')
    for resume in (False, True):
        runner = make_runner(tmp_path, max_iters=3, name=f'loaded{resume}',
                             load_from=str(trained / 'iter_2.pth'), resume=resume)
        with pytest.raises(IncompleteCheckpointError) as error:
            runner.train()
        assert f'{trained}/iter_2.pth is truncated' in str(error.value)
        assert f'beside it is {trained}/iter_1.pth' in str(error.value)


def test_a_full_disk_leaves_the_last_complete_checkpoint(tmp_path, monkeypatch):
    put = LocalBackend.put

    def fill_the_disk(backend, obj, filepath):
        if 'iter_2' in str(filepath):
            put(backend, obj[:len(obj) // 4], filepath)
            raise OSError(errno.ENOSPC, 'No space left on device')
        put(backend, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', fill_the_disk)
    with pytest.raises(OSError, match='iter_2.pth could not be written'):
        make_runner(tmp_path, max_iters=3, name='full').train()
    monkeypatch.undo()
    work = tmp_path / 'work'
    assert sorted(path.name for path in work.glob('*.pth*')) == ['iter_1.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_1.pth')

    runner = make_runner(tmp_path, max_iters=3, name='resumed', resume=True)
    start = RecordStartHook()
    runner.register_hook(start)
    runner.train()
    assert start.iter == 1 and runner.iter == 3


def test_strict_loading_refuses_another_num_classes(tmp_path, trained):
    checkpoint = torch.load(trained / 'iter_2.pth', weights_only=False)
    for key in ('decode_head.conv_seg.weight', 'decode_head.conv_seg.bias'):
        checkpoint['state_dict'][key] = checkpoint['state_dict'][key][:2]
    torch.save(checkpoint, tmp_path / 'two_classes.pth')

    runner = make_runner(tmp_path, max_iters=2, name='strict', strict=True,
                         load_from=str(tmp_path / 'two_classes.pth'))
    with pytest.raises(CheckpointMismatchError) as error:
        runner.test()
    message = str(error.value)
    assert f'The checkpoint {tmp_path}/two_classes.pth does not fit' in message
    assert ('2 weight(s) of another shape: decode_head.conv_seg.weight '
            '(checkpoint (2, 8, 1, 1), model (3, 8, 1, 1)), '
            'decode_head.conv_seg.bias (checkpoint (2,), model (3,))') in message

    loose = make_runner(tmp_path, max_iters=2, name='loose',
                        load_from=str(tmp_path / 'two_classes.pth'))
    loose.test()  # mmengine's non-strict loading, with a warning


def test_strict_loading_takes_the_student_of_a_semi_checkpoint(tmp_path, trained):
    checkpoint = torch.load(trained / 'iter_2.pth', weights_only=False)
    state = checkpoint['state_dict']
    teacher = {f'teacher.{key}': torch.zeros_like(value)
               for key, value in state.items()}
    checkpoint['state_dict'] = {
        **{f'segmentor.{key}': value for key, value in state.items()}, **teacher}
    torch.save(checkpoint, tmp_path / 'semi.pth')

    runner = make_runner(tmp_path, max_iters=2, name='semi', strict=True,
                         load_from=str(tmp_path / 'semi.pth'), log_level='INFO')
    runner.test()
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert "SemiSegmentor's student weights (segmentor.*)" in log_text(runner)


def test_added_once_and_made_strict():
    cfg = Config({'default_hooks': {'timer': {'type': 'IterTimerHook'}}})
    add_checkpoint_check(cfg)
    assert cfg.default_hooks.checkpoint_check == {'type': 'CheckpointCheckHook'}
    add_checkpoint_check(cfg, strict=True)
    assert cfg.default_hooks.checkpoint_check == {
        'type': 'CheckpointCheckHook', 'strict': True}
    assert len(cfg.default_hooks) == 2

    listed = Config({'custom_hooks': [{'type': 'CheckpointCheckHook'}]})
    add_checkpoint_check(listed, strict=True)
    assert listed.custom_hooks == [{'type': 'CheckpointCheckHook', 'strict': True}]
    assert 'default_hooks' not in listed
