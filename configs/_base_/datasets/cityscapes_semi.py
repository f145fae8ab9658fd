# Semi-supervised Cityscapes (19 classes): labeled and unlabeled images of the
# 2975 training images, as listed by split files (UniMatch's layout: images in
# leftImg8bit/, label maps *_gtFine_labelTrainIds.png in gtFine/). A leaf sets
# `split` (a folder under data_root holding labeled.txt and unlabeled.txt, e.g.
# 'splits/1_16') and gives the two datasets their files; `supervised_dataloader`
# is the labeled split alone, for supervised-only baselines.
# data_root: data/cityscapes, or the environment variable CITYSCAPES_ROOT.
_base_ = ['../semi/views.py']
data_root = '{{$CITYSCAPES_ROOT:data/cityscapes}}'
crop_size = (801, 801)
# Every label map is checked as it is loaded: class ids below num_classes or
# 255 (ignored), and the size of its image (mmseg_csl's CheckSegMap).
seg_map_check = dict(type='CheckSegMap', num_classes=19)
# The long side (2048 px) is rescaled to 2048 x [0.5, 2.0], as the reference code.
geometric = [
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
]
labeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    seg_map_check,
    *geometric,
    {{_base_.labeled_branches}},
]
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    *geometric,
    {{_base_.unlabeled_branches}},
]
# The masking version's views (methods.py, csl_masking).
unlabeled_pipeline_masking = [
    *unlabeled_pipeline[:-1],
    {{_base_.unlabeled_branches_masking}},
]
supervised_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    seg_map_check,
    *geometric,
    dict(type='PackSegInputs'),
]
# mmseg's Cityscapes evaluation pipeline (full 2048x1024 images); the model
# slides the reference code's windows over them (benchmarks/cityscapes_setup.py).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations'),
    seg_map_check,
    dict(type='PackSegInputs'),
]
split_dataset = dict(
    type='UniMatchSplitDataset', data_root=data_root, metainfo_from='CityscapesDataset')
labeled_dataset = dict(split_dataset, pipeline=labeled_pipeline)
unlabeled_dataset = dict(split_dataset, labeled=False, pipeline=unlabeled_pipeline)
# Per GPU: 2 labeled and 4 unlabeled images (2 trained, 2 CutMix sources); an
# epoch is one pass over the unlabeled set (epoch_source=1), also where the
# labeled split is the larger one (Cityscapes 1/2).
train_dataloader = dict(
    batch_size=6,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(
        type='MultiSourceSampler', batch_size=6, source_ratio=[1, 2], epoch_source=1),
    dataset=dict(type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
# The reference code's supervised baseline: 4 labeled images per GPU.
supervised_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(split_dataset, pipeline=supervised_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesDataset',
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
