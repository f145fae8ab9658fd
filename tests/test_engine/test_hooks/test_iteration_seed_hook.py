from types import SimpleNamespace

import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmseg_csl  # noqa: F401
from mmseg_csl.engine.hooks import IterationSeedHook
from mmseg_csl.engine.hooks.iteration_seed_hook import iteration_seed
from tests.tool_utils import tiny_semi_experiment_config, training_records


def draws_after_seeding(seed: int, rank: int, iteration: int) -> torch.Tensor:
    torch.rand(7)  # whatever the process drew before
    IterationSeedHook().before_train_iter(
        SimpleNamespace(seed=seed, rank=rank, iter=iteration), batch_idx=0)
    return torch.rand(3)


def test_torch_draws_depend_on_seed_rank_and_iteration_only():
    first = draws_after_seeding(0, 0, 5)
    assert torch.equal(first, draws_after_seeding(0, 0, 5))
    for other in [(1, 0, 5), (0, 1, 5), (0, 0, 6)]:
        assert not torch.equal(first, draws_after_seeding(*other))


def test_iteration_seed_is_a_64_bit_int_for_any_seed():
    seeds = {iteration_seed(seed, 0, 0) for seed in (-1, 0, 2**40)}
    assert len(seeds) == 3
    assert all(0 <= seed < 2**64 for seed in seeds)


# Resuming: 2 labeled and 4 unlabeled images, 1 + 2 per batch, make a sampler
# epoch of 2 iterations, so a run resumed after RESUME_AT = 3 iterations
# restarts in the middle of the sampler's second epoch.
MAX_ITERS, RESUME_AT = 4, 3


def semi_run(data_root, work_dir, resume_from=None) -> list:
    """Train the tiny semi-supervised experiment (with IterationSeedHook,
    a checkpoint every RESUME_AT iterations, no validation); returns its
    logged training iterations."""
    cfg = tiny_semi_experiment_config(data_root, max_iters=MAX_ITERS,
                                      num_labeled=2, num_unlabeled=4)
    assert {'type': 'IterationSeedHook'} in cfg['custom_hooks']
    cfg['default_hooks']['checkpoint']['interval'] = RESUME_AT
    cfg['default_hooks']['safe_checkpoint_loading'] = {
        'type': 'SafeCheckpointLoadingHook'}  # resuming with PyTorch >= 2.6
    cfg.update(val_dataloader=None, val_cfg=None, val_evaluator=None,
               work_dir=str(work_dir), experiment_name=work_dir.name,
               log_level='WARNING', resume=resume_from is not None,
               load_from=resume_from)
    Runner.from_cfg(Config(cfg)).train()
    return training_records(work_dir)


def test_resumed_run_repeats_the_losses_of_the_uninterrupted_run(tmp_path):
    # Without the hook the first resumed iteration differs: mmengine replays
    # the data pipeline of the skipped iterations, not the model's torch draws
    # (dropout, feature perturbation, CutMix, masking).
    data_root = tmp_path / 'data'
    uninterrupted = semi_run(data_root, tmp_path / 'full')
    resumed = semi_run(data_root, tmp_path / 'resumed',
                       resume_from=str(tmp_path / 'full' / f'iter_{RESUME_AT}.pth'))

    assert [record['iter'] for record in uninterrupted] == [1, 2, 3, 4]
    assert [record['iter'] for record in resumed] == [4]
    expected = {key: value for key, value in uninterrupted[RESUME_AT].items()
                if 'loss' in key}
    assert expected.keys() >= {'loss', 'sup.decode.loss_ce', 'unsup.loss_s1',
                               'unsup.loss_s2', 'unsup.loss_fp'}
    assert {key: resumed[0][key] for key in expected} == expected
