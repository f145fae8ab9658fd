# DeepLabV3+ on mmseg's MobileNetV2, small enough to train on 2 CPU cores: output
# stride 16 (the last two stages dilated) and the reference decoder
# (DeepLabV3PlusHead) at 128 channels with ASPP dilations 6/12/18 (UniMatch's at
# stride 16), the low-level branch from the stride-4 stage (24 channels reduced to
# 48), no dropout, corners aligned, BN. The supervised loss is the mean over
# labeled pixels. The backbone starts from ImageNet weights converted by
# tools/model_converters/mobilenetv2_tv2mmseg.py (benchmarks/camvid/run.py writes
# them to this path, relative to the working directory, the repository root).
norm_cfg = dict(type='BN', requires_grad=True)
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
        type='MobileNetV2',
        widen_factor=1.0,
        strides=(1, 2, 2, 2, 1, 1, 1),
        dilations=(1, 1, 1, 1, 1, 2, 2),
        out_indices=(1, 2, 4, 6),
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/pretrained/mobilenetv2_imagenet_mmseg.pth')),
    decode_head=dict(
        type='DeepLabV3PlusHead',
        in_channels=320,
        c1_in_channels=24,
        channels=128,
        c1_channels=48,
        dilations=(1, 6, 12, 18),
        in_index=(0, 3),
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss', avg_non_ignore=True, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
