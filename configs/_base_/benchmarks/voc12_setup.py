# What every method on Pascal VOC 2012 (classic and blended splits) shares:
# DeepLabV3+ R101-D8 in SemiSegmentor, 4 GPUs x (2 labeled + 4 unlabeled) images,
# crop 321, 80 epochs, the reference code's optimisation (docs/method.md). The
# method bases beside this file choose the semi-supervised training.
_base_ = [
    '../models/semi_deeplabv3plus_r101-d8.py', '../datasets/pascal_voc12_semi.py',
    '../schedules/sgd_poly.py', '../default_runtime.py'
]
model = dict(
    data_preprocessor=dict(data_preprocessor=dict(size=_base_.crop_size)),
    segmentor=dict(decode_head=dict(num_classes=21)))
# lr 0.001 for 4 GPUs; the decode head (segmentor.decode_head.*) learns 10x faster.
optim_wrapper = dict(
    optimizer=dict(lr=0.001),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
auto_scale_lr = dict(base_batch_size=24)
# 80 epochs of the paper = 160 epochs of MultiSourceSampler (schedules/sgd_poly.py).
train_cfg = dict(max_epochs=160, val_interval=8)
default_hooks = dict(checkpoint=dict(interval=4))
custom_hooks = [
    dict(type='CSLSelectorHook', interval=50),
    dict(type='ClassCountCheckHook'),
    dict(type='IterationSeedHook'),
]
