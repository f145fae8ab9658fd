# DeepLabV3+ on mmseg's MobileNetV2, small enough to train on 2 CPU cores: output
# stride 16 (the last two stages dilated), ASPP of 128 channels with dilations
# (1, 6, 12, 18) (UniMatch's at stride 16), the low-level branch from the stride-4
# stage (24 channels), BN. The backbone starts from ImageNet weights converted by
# tools/model_converters/mobilenetv2_tv2mmseg.py (benchmarks/camvid/run.py writes
# them to this path, relative to the working directory, the repository root).
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
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
        type='DepthwiseSeparableASPPHead',
        in_channels=320,
        in_index=3,
        channels=128,
        dilations=(1, 6, 12, 18),
        c1_in_channels=24,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
