# What every semi-supervised run of the demo shares (tools/demo.py): the tiny
# DeepLabV3+ in SemiSegmentor, per batch 4 labeled and 8 unlabeled 64x64 shapes
# images (4 trained, 4 CutMix sources). The leaves choose the method
# (`semi_train_cfg`) and the schedule.
_base_ = [
    '../models/semi_tiny_deeplabv3plus.py', '../datasets/semi_shapes.py',
    '../default_runtime.py'
]
model = dict(data_preprocessor=dict(data_preprocessor=dict(size=_base_.crop_size)))
# ClassCountCheckHook: model and datasets must agree on the classes before training;
# IterationSeedHook: per-iteration torch seeds, so that a resumed run continues exactly.
custom_hooks = [
    dict(type='CSLSelectorHook', interval=10, plot_interval=100),
    dict(type='ClassCountCheckHook'),
    dict(type='IterationSeedHook'),
]
