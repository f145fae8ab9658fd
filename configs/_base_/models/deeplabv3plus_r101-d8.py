# The model of the paper and of its reference code (docs/method.md, "Model"):
# DeepLabV3+ on the reference's ResNet-101 (mmseg's ResNetV1c with a 128-channel
# deep stem), output stride 8 (last two stages dilated), and the original
# DeepLabV3+ decoder (DeepLabV3PlusHead: plain ASPP of 256 channels with
# dilations 12/24/36, a 48-channel low-level reduction, two 3x3 fuse convs, no
# dropout), SyncBN, corners aligned in every resize (the crops 321, 513 and 801 are
# 8k + 1 pixels), no auxiliary head. The supervised loss is the mean cross-entropy
# over labeled pixels (avg_non_ignore=True). The benchmarks set the classes.
# The backbone starts from the reference's ImageNet weights, UniMatch's
# resnet101.pth converted by tools/model_converters/unimatch_resnet2mmseg.py
# (docs/weights.md), at this path relative to the working directory or at the
# environment variable RESNET101_WEIGHTS; training stops before its first
# iteration without the file.
norm_cfg = dict(type='SyncBN', requires_grad=True)
# Crops smaller than the crop size are padded with black (pixel value 0, set
# after the photometric transforms of every view) and 255 in label maps, as the
# reference code pads.
data_preprocessor = dict(
    type='PixelPadSegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pixel_pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        stem_channels=128,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        init_cfg=dict(
            type='UniMatchResNetPretrained',
            checkpoint='{{$RESNET101_WEIGHTS:work_dirs/pretrained/resnet101_mmseg.pth}}')),
    decode_head=dict(
        type='DeepLabV3PlusHead',
        in_channels=2048,
        c1_in_channels=256,
        channels=256,
        c1_channels=48,
        dilations=(1, 12, 24, 36),
        in_index=(0, 3),
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss', avg_non_ignore=True, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
