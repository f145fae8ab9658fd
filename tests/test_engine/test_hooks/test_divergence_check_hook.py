"""A diverging run stops at its first non-finite loss, prediction or weight
with a message that says so, keeps its last checkpoint of finite weights and
advises a command that trains on from a good one at a lower learning rate."""
import math
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner

import mmseg_csl  # noqa: F401
from mmseg_csl.engine import load_from_local
from mmseg_csl.engine.hooks import DivergenceCheckHook
from mmseg_csl.models.utils import TrainingDivergedError, divergence_message
from mmseg_csl.models.utils.divergence import RecoveryCheckpoint, recovery_checkpoint
from tests.tool_utils import (
    run_tool,
    tiny_experiment_config,
    tiny_semi_experiment_config,
    training_records,
)

HUGE_LR = 1e8


def diverging_run(cfg: dict, work_dir: Path) -> str:
    """Train ``cfg`` with lr 0.01 for two iterations, then HUGE_LR, saving a
    checkpoint every iteration; returns the message it stops with."""
    cfg['optim_wrapper']['optimizer']['lr'] = 0.01
    cfg['param_scheduler'] = [{'type': 'MultiStepLR', 'milestones': [2],
                               'gamma': HUGE_LR / 0.01, 'by_epoch': False}]
    cfg['default_hooks']['checkpoint']['interval'] = 1
    cfg['default_hooks']['divergence_check'] = {'type': 'DivergenceCheckHook'}
    cfg.update(work_dir=str(work_dir), experiment_name=work_dir.name,
               log_level='WARNING')
    runner = Runner.from_cfg(Config(cfg))
    with pytest.raises(TrainingDivergedError) as error:
        runner.train()
    return str(error.value)


def check_report(message: str, work_dir: Path, problem: str) -> None:
    """The message names the iteration, the problem, the last finite loss
    terms, the learning rate, the last checkpoint (kept, finite) and what to
    try; no checkpoint of the diverged iteration exists."""
    iteration = int(re.match(r'Training diverged at iteration (\d+): ',
                             message).group(1))
    assert problem in message.splitlines()[0]
    saved = sorted(work_dir.glob('iter_*.pth'), key=lambda p: int(p.stem[5:]))
    assert [int(path.stem[5:]) for path in saved] == list(range(1, iteration))
    last = saved[-1]
    assert f'Last checkpoint saved, of finite weights, kept: {last}' in message
    weights = load_from_local(str(last))['state_dict']
    assert all(value.isfinite().all() for value in weights.values()
               if value.is_floating_point())
    terms = re.search(r'Last finite values of the loss terms \(logged through '
                      rf'iteration {iteration - 1}\): (.*)\.\n', message).group(1)
    values = dict(term.split('=') for term in terms.split(', '))
    assert 'loss' in values and all(math.isfinite(float(v)) for v in values.values())
    assert f'Learning rate at iteration {iteration}: 1e+08' in message
    advice = message.splitlines()[-1]
    assert advice.startswith('What to try: a lower learning rate')
    assert 'gradient clipping' in advice and 'mixed precision' in advice


def test_semi_supervised_run_stops_at_the_non_finite_prediction(tmp_path):
    cfg = tiny_semi_experiment_config(tmp_path / 'data', max_iters=8)
    message = diverging_run(cfg, tmp_path / 'work')
    check_report(message, tmp_path / 'work',
                 'the prediction on the unlabeled weak views, whose softmax makes '
                 'the pseudo-labels, is not finite')


def test_supervised_run_stops_at_the_first_non_finite_loss(tmp_path):
    cfg = tiny_experiment_config(tmp_path / 'data', max_iters=8)
    message = diverging_run(cfg, tmp_path / 'work')
    check_report(message, tmp_path / 'work', 'the loss terms loss=nan')
    assert re.search(r'the loss terms (\S+=(nan|inf), )*\S+=(nan|inf) are not '
                     'finite', message)


def test_non_finite_weights_are_not_saved():
    hub = MessageHub('divergence_weights')
    hub.update_scalar('train/loss', 2.5)
    hub.update_scalar('train/lr', 0.01)
    runner = SimpleNamespace(iter=2, message_hub=hub)
    hook = DivergenceCheckHook()
    hook.before_save_checkpoint(runner, {'state_dict': {'w': torch.ones(2)}})
    nan = {'step': torch.tensor(3), 'w': torch.tensor([1.0, math.nan])}
    with pytest.raises(TrainingDivergedError) as error:
        hook.before_save_checkpoint(runner, {'state_dict': nan})
    lines = str(error.value).splitlines()
    assert lines[0] == ('Training diverged at iteration 3: the weights after '
                        'iteration 3 are not finite (first: w), so they are not '
                        'saved.')
    assert lines[1] == ('Last finite values of the loss terms (logged through '
                        'iteration 3): loss=2.5.')


def test_first_iteration_points_at_data_and_setup():
    hub = MessageHub('divergence_first')
    hub.update_info('iter', 0)
    hub.update_info('divergence_check', {'work_dir': '/nonexistent', 'amp': True})
    message = divergence_message('the loss terms loss=nan are not finite',
                                 message_hub=hub)
    assert message.splitlines()[:3] == [
        'Training diverged at iteration 1: the loss terms loss=nan are not finite.',
        'No earlier iteration logged finite loss terms: check the data (labels '
        'within num_classes or ignore_index), the initialisation and the '
        'learning rate.',
        'No checkpoint was saved before the divergence.']
    assert 'this run uses mixed precision (AmpOptimWrapper)' in message


def test_advised_command_trains_on_from_a_good_checkpoint_at_a_lower_lr(tmp_path):
    """A warm-up to a learning rate of 1000 diverges; the command the message
    advises loads the last checkpoint saved before the loss grew and trains
    with the config's schedule at a tenth of that rate (with --resume the
    saved scheduler would bring back the rate that diverged)."""
    cfg = tiny_experiment_config(tmp_path / 'data', max_iters=8)
    cfg['optim_wrapper']['optimizer']['lr'] = 1000.0
    cfg['param_scheduler'] = [{'type': 'LinearLR', 'start_factor': 1e-5,
                               'end': 8, 'by_epoch': False}]
    cfg['default_hooks']['checkpoint']['interval'] = 1
    cfg['default_hooks']['divergence_check'] = {'type': 'DivergenceCheckHook'}
    work_dir = tmp_path / 'work'
    cfg.update(work_dir=str(work_dir), experiment_name='diverging',
               log_level='WARNING')
    with pytest.raises(TrainingDivergedError) as error:
        Runner.from_cfg(Config(cfg)).train()
    message = str(error.value)
    # The loss of iteration 2 (weights of iter_1, updated at lr 0.01) is the
    # last one near the initial loss; iteration 3 follows a step at lr 143.
    assert (f'Checkpoint to train on from: {work_dir}/iter_1.pth (its weights '
            'gave loss=') in message
    [command] = [line.strip() for line in message.splitlines()
                 if line.startswith('    python tools/train.py ')]
    argv = shlex.split(command)[2:]
    assert argv[argv.index('--work-dir') + 1] == f'{work_dir}_lr100'
    assert argv[-2:] == [f'load_from={work_dir}/iter_1.pth',
                         'optim_wrapper.optimizer.lr=100']
    assert '--resume' not in argv

    result = run_tool(['train.py', *argv])

    assert f'from path: {work_dir}/iter_1.pth' in result.stdout
    records = training_records(f'{work_dir}_lr100')
    assert [record['iter'] for record in records] == list(range(1, 9))
    assert records[0]['lr'] == pytest.approx(100 * 1e-5)
    assert max(record['lr'] for record in records) == pytest.approx(100)
    assert records[0]['loss'] == pytest.approx(1.54, abs=0.05)
    assert all(math.isfinite(record['loss']) for record in records)
    assert Path(f'{work_dir}_lr100', 'iter_8.pth').is_file()


def test_recovery_checkpoint_is_the_latest_before_the_loss_grew():
    checkpoints = [(2, 'iter_2.pth'), (4, 'iter_4.pth'), (6, 'iter_6.pth')]
    losses = {1: 2.0, 2: 1.8, 3: 1.5, 4: 1.4, 5: 9.0, 6: 40.0, 7: 1e6}
    found = recovery_checkpoint(checkpoints, losses)
    # iter_6 gave 1e6 at iteration 7; iter_4 gave 9.0, within 10x the median
    # (1.65) of iterations 1-4.
    assert found == RecoveryCheckpoint('iter_4.pth', 5, 9.0, 1.65)
    # The checkpoint whose next iteration diverged is not vouched for.
    assert recovery_checkpoint([(7, 'iter_7.pth')], losses) is None
    assert recovery_checkpoint([(6, 'iter_6.pth')], losses) is None


def test_without_a_good_checkpoint_the_command_trains_from_the_start(tmp_path):
    config = tmp_path / 'run.py'
    config.write_text('')
    (tmp_path / 'iter_1.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_1.pth'))
    hub = MessageHub('divergence_no_good_checkpoint')
    hub.update_info('iter', 2)
    for loss in (1.5, 1e9):
        hub.update_scalar('train/loss', loss)
    hub.update_info('divergence_check', {
        'work_dir': str(tmp_path), 'amp': False, 'config': str(config),
        'lr': 0.02})
    message = divergence_message('the loss terms loss=nan are not finite',
                                 message_hub=hub)
    assert 'No kept checkpoint gave, in the iteration after it, a loss' in message
    assert (f'    python tools/train.py {config} --work-dir {tmp_path}_lr0.002 '
            '--cfg-options optim_wrapper.optimizer.lr=0.002') in message.splitlines()
