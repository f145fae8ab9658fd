# Semi-supervised COCO with 81 classes (background + the 80 object categories,
# COCOObjectDataset): labeled and unlabeled images of the 118287 of train2017, as
# listed by split files (UniMatch's layout: train2017/, val2017/ and the label
# maps of both in masks/, made by tools/dataset_converters/coco_object.py). A leaf
# sets `split` (a folder under data_root holding labeled.txt and unlabeled.txt,
# e.g. 'splits/1_512') and gives the two datasets their files;
# `supervised_dataloader` is the labeled split alone, for supervised baselines.
# data_root: data/coco, or the environment variable COCO_ROOT.
_base_ = ['../semi/views.py']
data_root = '{{$COCO_ROOT:data/coco}}'
crop_size = (513, 513)
# Every label map is checked as it is loaded: class ids below num_classes or
# 255 (ignored), and the size of its image (mmseg_csl's CheckSegMap).
seg_map_check = dict(type='CheckSegMap', num_classes=81)
# RandomResize with a square scale s rescales the long side to s x [0.5, 2.0]:
# the reference code's rescaling of COCO images (long side 640 px).
geometric = [
    dict(type='RandomResize', scale=(640, 640), ratio_range=(0.5, 2.0),
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
# Evaluation at the original resolution, as the reference code's.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    seg_map_check,
    dict(type='PackSegInputs'),
]
split_dataset = dict(
    type='UniMatchSplitDataset', data_root=data_root, metainfo_from='COCOObjectDataset')
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
        type='COCOObjectDataset',
        data_root=data_root,
        data_prefix=dict(img_path='val2017', seg_map_path='masks'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
