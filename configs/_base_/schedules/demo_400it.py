# The demo's schedule: 400 iterations of SGD with poly decay, one validation and
# one checkpoint at the end.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=400, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=400, val_interval=400)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=400),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # this package's: checkpoints loaded weights-only (resuming with PyTorch >= 2.6),
    # saved whole and refused when truncated, and training stopped at its first
    # non-finite loss with a report
    safe_checkpoint_loading=dict(type='SafeCheckpointLoadingHook'),
    checkpoint_check=dict(type='CheckpointCheckHook'),
    divergence_check=dict(type='DivergenceCheckHook'))
randomness = dict(seed=0)
