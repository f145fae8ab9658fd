# What every method on CamVid on CPU shares (benchmarks/camvid/run.py):
# DeepLabV3+ on an ImageNet MobileNetV2 at output stride 16 in SemiSegmentor,
# 1 process x (2 labeled + 4 unlabeled) frames, crop 240x320, 720 iterations. The
# method bases beside this file choose the semi-supervised training.
_base_ = [
    '../models/semi_deeplabv3plus_mobilenet-v2-d16.py', '../datasets/semi_camvid.py',
    '../schedules/sgd_poly_720it.py', '../default_runtime.py'
]
model = dict(
    data_preprocessor=dict(data_preprocessor=dict(size=_base_.crop_size)),
    segmentor=dict(decode_head=dict(num_classes=11)))
# One learning rate for the whole model, as the reference code's Cityscapes
# setting (head x1); how lr 0.01 was chosen: benchmarks/camvid/README.md.
optim_wrapper = dict(optimizer=dict(lr=0.01))
custom_hooks = [
    dict(type='CSLSelectorHook', interval=10),
    dict(type='ClassCountCheckHook'),
    dict(type='IterationSeedHook'),
]
