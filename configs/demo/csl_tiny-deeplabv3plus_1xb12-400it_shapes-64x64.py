# CSL semi-supervised training on the demo's synthetic shapes (tools/demo.py):
# per batch 4 labeled and 8 unlabeled images (4 trained, 4 CutMix sources).
_base_ = [
    '../_base_/models/tiny_deeplabv3plus.py', '../_base_/datasets/semi_shapes.py',
    '../_base_/schedules/demo_400it.py', '../_base_/default_runtime.py'
]
model = dict(
    _delete_=True,
    type='SemiSegmentor',
    segmentor=_base_.model,
    data_preprocessor=dict(
        type='MultiBranchDataPreProcessor',
        data_preprocessor=dict(_base_.data_preprocessor, size=_base_.crop_size)),
    # The CSL release (docs/method.md): SemiSegmentor's defaults.
    semi_train_cfg=dict(selector=dict(type='CSLSelector', variant='release')))
# ClassCountCheckHook: model and datasets must agree on the classes before training;
# IterationSeedHook: per-iteration torch seeds, so that a resumed run continues exactly.
custom_hooks = [
    dict(type='CSLSelectorHook', interval=50, plot_interval=400),
    dict(type='ClassCountCheckHook'),
    dict(type='IterationSeedHook'),
]
