import pickle

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader, Runner
from mmengine.utils import digit_version

from mmseg_csl.engine import load_from_local
from mmseg_csl.engine.hooks import add_safe_checkpoint_loading
from tests.tool_utils import tiny_experiment_config

TORCH_2_6 = digit_version(torch.__version__) >= digit_version('2.6.0')


def make_runner(tmp_path, max_iters: int, name: str, resume: bool = False,
                hook: bool = True) -> Runner:
    cfg = Config(tiny_experiment_config(tmp_path / 'data', max_iters=max_iters))
    cfg.merge_from_dict(dict(work_dir=str(tmp_path / 'work'), experiment_name=name,
                             resume=resume, log_level='WARNING'))
    if hook:
        add_safe_checkpoint_loading(cfg)
    return Runner.from_cfg(cfg)


def test_resume_with_the_hook_leaves_other_loading_alone(tmp_path):
    mmengine_loader = CheckpointLoader._schemes['']
    make_runner(tmp_path, max_iters=2, name='first').train()

    runner = make_runner(tmp_path, max_iters=3, name='resumed', resume=True)
    runner.train()

    assert runner.iter == 3
    assert getattr(runner.load_checkpoint, 'loads_weights_only', False) == TORCH_2_6
    assert CheckpointLoader._schemes[''] is mmengine_loader is not load_from_local


@pytest.mark.skipif(not TORCH_2_6, reason='torch.load is weights-only from 2.6 on')
def test_without_the_hook_mmengine_loads_as_it_does(tmp_path):
    make_runner(tmp_path, max_iters=2, name='first', hook=False).train()
    runner = make_runner(tmp_path, max_iters=3, name='resumed', resume=True,
                         hook=False)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        runner.train()


def test_added_once_to_a_config():
    cfg = Config({'default_hooks': {'timer': {'type': 'IterTimerHook'}}})
    add_safe_checkpoint_loading(cfg)
    assert cfg.default_hooks == {
        'timer': {'type': 'IterTimerHook'},
        'safe_checkpoint_loading': {'type': 'SafeCheckpointLoadingHook'}}
    add_safe_checkpoint_loading(cfg)
    assert len(cfg.default_hooks) == 2

    listed = Config({'custom_hooks': [{'type': 'SafeCheckpointLoadingHook'}]})
    add_safe_checkpoint_loading(listed)
    assert 'default_hooks' not in listed

    bare = Config({})
    add_safe_checkpoint_loading(bare)
    assert bare.default_hooks == {
        'safe_checkpoint_loading': {'type': 'SafeCheckpointLoadingHook'}}
