# CSL on CamVid on CPU (benchmarks/camvid/run.py): DeepLabV3+ on an ImageNet
# MobileNetV2 at output stride 16, 1 process x (2 labeled + 4 unlabeled) frames,
# crop 240x320, 240 iterations; CSL selection with a = 8 and random block masking
# of the reliable pixels (the masking-ON release, CSL_SPEC 4).
_base_ = [
    '../models/semi_deeplabv3plus_mobilenet-v2-d16.py', '../datasets/semi_camvid.py',
    '../schedules/sgd_poly_240it.py', '../default_runtime.py'
]
model = dict(
    data_preprocessor=dict(data_preprocessor=dict(size=_base_.crop_size)),
    segmentor=dict(decode_head=dict(num_classes=11)))
# The decode head learns 10x faster than the pretrained backbone, as in the
# reference code.
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
custom_hooks = [
    dict(type='CSLSelectorHook', interval=10),
    dict(type='ClassCountCheckHook'),
    dict(type='IterationSeedHook'),
]
