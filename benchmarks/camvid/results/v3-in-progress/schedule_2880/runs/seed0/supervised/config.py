custom_hooks = [
    dict(type='ClassCountCheckHook'),
]
custom_imports = dict(
    allow_failed_imports=False, imports=[
        'mmseg_csl',
    ])
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=720, type='CheckpointHook'),
    divergence_check=dict(type='DivergenceCheckHook'),
    logger=dict(interval=10, log_metric_by_epoch=False, type='LoggerHook'),
    param_scheduler=dict(type='ParamSchedulerHook'),
    safe_checkpoint_loading=dict(type='SafeCheckpointLoadingHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    timer=dict(type='IterTimerHook'),
    visualization=dict(type='SegVisualizationHook'))
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=True,
    dist_cfg=dict(backend='nccl'),
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
load_from = None
log_level = 'INFO'
log_processor = dict(by_epoch=False)
model = dict(
    backbone=dict(
        dilations=(
            1,
            1,
            1,
            1,
            1,
            2,
            2,
        ),
        init_cfg=dict(
            checkpoint=
            '/work/main/work_dirs/camvid_v3/pretrained/mobilenetv2_imagenet_mmseg.pth',
            type='Pretrained'),
        norm_cfg=dict(requires_grad=True, type='BN'),
        out_indices=(
            1,
            2,
            4,
            6,
        ),
        strides=(
            1,
            2,
            2,
            2,
            1,
            1,
            1,
        ),
        type='MobileNetV2',
        widen_factor=1.0),
    data_preprocessor=dict(
        bgr_to_rgb=True,
        mean=[
            123.675,
            116.28,
            103.53,
        ],
        pixel_pad_val=0,
        seg_pad_val=255,
        size=(
            240,
            320,
        ),
        std=[
            58.395,
            57.12,
            57.375,
        ],
        type='PixelPadSegDataPreProcessor'),
    decode_head=dict(
        align_corners=True,
        c1_channels=48,
        c1_in_channels=24,
        channels=128,
        dilations=(
            1,
            6,
            12,
            18,
        ),
        in_channels=320,
        in_index=(
            0,
            3,
        ),
        loss_decode=dict(
            avg_non_ignore=True, loss_weight=1.0, type='CrossEntropyLoss'),
        norm_cfg=dict(requires_grad=True, type='BN'),
        num_classes=11,
        type='DeepLabV3PlusHead'),
    test_cfg=dict(mode='whole'),
    train_cfg=dict(),
    type='EncoderDecoder')
optim_wrapper = dict(
    optimizer=dict(lr=0.01, momentum=0.9, type='SGD', weight_decay=0.0001),
    type='OptimWrapper')
param_scheduler = [
    dict(
        begin=0,
        by_epoch=False,
        end=2880,
        eta_min=0.0,
        power=0.9,
        type='PolyLR'),
]
randomness = dict(seed=0)
resume = True
test_cfg = dict(type='TestLoop')
test_dataloader = dict(
    batch_size=1,
    dataset=dict(
        data_prefix=dict(img_path='img_dir/test', seg_map_path='ann_dir/test'),
        data_root='data/camvid',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs'),
        ],
        type='CamVidDataset'),
    num_workers=0,
    persistent_workers=False,
    sampler=dict(shuffle=False, type='DefaultSampler'))
test_evaluator = dict(
    iou_metrics=[
        'mIoU',
    ], type='IoUMetric')
train_cfg = dict(max_iters=2880, type='IterBasedTrainLoop', val_interval=720)
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        ann_file=
        '/work/main/work_dirs/camvid_v3/schedule_2880/splits/seed0/1_8/labeled.txt',
        data_prefix=dict(
            img_path='data/camvid/img_dir/train',
            seg_map_path='data/camvid/ann_dir/train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(
                keep_ratio=True,
                ratio_range=(
                    0.5,
                    2.0,
                ),
                scale=(
                    480,
                    360,
                ),
                type='RandomResize'),
            dict(cat_max_ratio=1.0, crop_size=(
                240,
                320,
            ), type='RandomCrop'),
            dict(prob=0.5, type='RandomFlip'),
            dict(type='PackSegInputs'),
        ],
        type='CamVidDataset'),
    num_workers=0,
    sampler=dict(shuffle=True, type='InfiniteSampler'))
tta_model = dict(type='SegTTAModel')
val_cfg = dict(type='ValLoop')
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        data_root='data/camvid',
        indices=[
            0,
            4,
            8,
            12,
            16,
            20,
            24,
            28,
            32,
            36,
            40,
            44,
            48,
            52,
            56,
            60,
            64,
            68,
            72,
            76,
            80,
            84,
            88,
            92,
            96,
            100,
        ],
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs'),
        ],
        type='CamVidDataset'),
    num_workers=0,
    persistent_workers=False,
    sampler=dict(shuffle=False, type='DefaultSampler'))
val_evaluator = dict(
    iou_metrics=[
        'mIoU',
    ], type='IoUMetric')
vis_backends = [
    dict(type='LocalVisBackend'),
]
visualizer = dict(
    name='visualizer',
    type='SegLocalVisualizer',
    vis_backends=[
        dict(type='LocalVisBackend'),
    ])
work_dir = '/work/main/work_dirs/camvid_v3/schedule_2880/runs/seed0/supervised'
