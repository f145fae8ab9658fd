# The supervised-only baseline of the demo: the same model and schedule trained
# on the labeled split alone, with the labeled batch of the CSL config (4 images).
_base_ = [
    '../_base_/models/tiny_deeplabv3plus.py', '../_base_/datasets/semi_shapes.py',
    '../_base_/schedules/demo_400it.py', '../_base_/default_runtime.py'
]
model = dict(data_preprocessor=dict(size=_base_.crop_size))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    *_base_.geometric,
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_base_.labeled_dataset, pipeline=train_pipeline))
