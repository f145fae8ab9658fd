# The reference code's optimisation: SGD (momentum 0.9, weight decay 1e-4), the
# learning rate decaying as (1 - iter / total) ** 0.9 to zero, updated every
# iteration. The benchmarks set the learning rate, the decode head's multiplier,
# max_epochs and the intervals of validation and checkpoints (in epochs).
#
# Epochs: the reference code counts one epoch as one pass over the unlabeled set
# with B trained unlabeled images per GPU, floor(ceil(N_u / GPUs) / B) iterations.
# MultiSourceSampler draws 2B unlabeled images per step (B trained + B CutMix
# sources), so one epoch of the loop below is ceil(ceil(N_u / GPUs) / 2B)
# iterations: half of one reference epoch. Semi-supervised configs therefore train
# max_epochs = 2 x the paper's epochs (a rounding difference of at most 1 iteration
# per loop epoch). Supervised baselines count passes over the labeled split with 4
# images per GPU (drop_last), as the reference code's.
#
# Mixed precision in bfloat16, as both released versions train: mmengine's
# AmpOptimWrapper (autocast; bfloat16 needs no loss scaling, so the scale stays 1
# and only steps with non-finite gradients are skipped). It needs a GPU:
# `tools/train.py --amp-dtype float32` (or float16, for GPUs without bfloat16)
# trains otherwise, and tools/dry_run.py trains in float32 where there is none.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    loss_scale=1.0,
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, max_keep_ckpts=2,
                    save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # this package's: checkpoints loaded weights-only (resuming with PyTorch >= 2.6),
    # saved whole and refused when truncated, and training stopped at its first
    # non-finite loss with a report
    safe_checkpoint_loading=dict(type='SafeCheckpointLoadingHook'),
    checkpoint_check=dict(type='CheckpointCheckHook'),
    divergence_check=dict(type='DivergenceCheckHook'))
