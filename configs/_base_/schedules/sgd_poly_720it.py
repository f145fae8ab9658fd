# An iteration-based form of schedules/sgd_poly.py for short CPU runs: SGD
# (momentum 0.9, weight decay 1e-4), the learning rate decaying as
# (1 - iter / max_iters) ** 0.9 to zero, updated every iteration; validation and a
# checkpoint (all kept) after each quarter of the iterations; one seed for every
# run, so that runs compared with each other start from the same weights and see
# the same draws. A run of another length sets max_iters, the scheduler's end and
# both intervals together.
max_iters = 720
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters // 4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters // 4),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # this package's: checkpoints loaded weights-only (resuming with PyTorch >= 2.6),
    # saved whole and refused when truncated, and training stopped at its first
    # non-finite loss with a report
    safe_checkpoint_loading=dict(type='SafeCheckpointLoadingHook'),
    checkpoint_check=dict(type='CheckpointCheckHook'),
    divergence_check=dict(type='DivergenceCheckHook'))
randomness = dict(seed=0)
