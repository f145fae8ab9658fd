# What every method on Cityscapes shares: DeepLabV3+ R101-D8 in SemiSegmentor,
# 4 GPUs x (2 labeled + 4 unlabeled) images, crop 801, 240 epochs, OHEM on the
# labeled loss, the reference code's sliding-window evaluation (docs/method.md).
# The method bases beside this file choose the semi-supervised training.
_base_ = [
    '../models/semi_deeplabv3plus_r101-d8.py', '../datasets/cityscapes_semi.py',
    '../schedules/sgd_poly.py', '../default_runtime.py'
]
model = dict(
    data_preprocessor=dict(data_preprocessor=dict(size=_base_.crop_size)),
    segmentor=dict(
        type='SlideCutEncoderDecoder',
        # The reference's OHEM: at least 200000 pixels per GPU batch (2 images),
        # the mean over the kept ones.
        decode_head=dict(
            num_classes=19,
            loss_decode=dict(
                _delete_=True,
                type='BatchOhemCrossEntropyLoss',
                thresh=0.7,
                min_kept=200000)),
        # The reference code's windows: of the crop size, 2/3 of it apart,
        # cut at the image edges, their softmax probabilities summed.
        test_cfg=dict(mode='slide_cut', crop_size=(801, 801), stride=(534, 534))))
# lr 0.005 for 4 GPUs, the same for the decode head.
optim_wrapper = dict(optimizer=dict(lr=0.005))
auto_scale_lr = dict(base_batch_size=24)
# 240 epochs of the paper = 480 epochs of MultiSourceSampler (schedules/sgd_poly.py).
train_cfg = dict(max_epochs=480, val_interval=32)
default_hooks = dict(checkpoint=dict(interval=16))
custom_hooks = [
    dict(type='CSLSelectorHook', interval=50),
    dict(type='ClassCountCheckHook'),
    dict(type='IterationSeedHook'),
]
