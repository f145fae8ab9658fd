"""Per-iteration seeding of torch, so that a resumed run continues exactly."""
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def iteration_seed(seed: int, rank: int, iteration: int) -> int:
    """A 64-bit seed drawn from (``seed``, ``rank``, ``iteration``): distinct
    triples give unrelated streams (numpy's ``SeedSequence`` mixing)."""
    entropy = [seed % 2**64, rank, iteration]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Seed torch's global generators before every training iteration with
    :func:`iteration_seed` of (``runner.seed``, rank, iteration).

    The model's randomness (dropout, feature perturbation, CutMix boxes,
    masking blocks) then depends on the iteration only, not on the history of
    the process. That makes resuming exact: mmengine's
    ``IterBasedTrainLoop`` resumes by fetching (and so transforming) the
    batches already trained, which replays the data pipeline's numpy and
    Python random streams, but not the torch draws the model made in those
    iterations; without this hook the first resumed iteration draws other
    dropout masks and boxes than the uninterrupted run. Data loading stays on
    mmengine's seeding (numpy, ``random``, dataloader workers).

    Ranks get different seeds, so their CutMix boxes and dropout masks
    differ (with mmengine's default ``diff_rank_seed=False`` they would be
    the same on every rank).
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        torch.manual_seed(iteration_seed(runner.seed, runner.rank, runner.iter))
