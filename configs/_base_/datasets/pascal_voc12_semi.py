# Semi-supervised Pascal VOC 2012 (21 classes) in UniMatch's layout: both the
# classic benchmark (labeled images from the 1464 fine set, the rest of the 10582
# SBD-augmented images unlabeled) and the blended one (both from the 10582) read
# the split files of one folder, so only the split differs. A leaf sets `split`
# (a folder under data_root holding labeled.txt and unlabeled.txt, e.g.
# 'splits/92') and gives the two datasets their files; `supervised_dataloader` is
# the labeled split alone, for supervised-only baselines.
# data_root: data/VOCdevkit/VOC2012, or the environment variable VOC12_ROOT.
_base_ = ['../semi/views.py']
data_root = '{{$VOC12_ROOT:data/VOCdevkit/VOC2012}}'
crop_size = (321, 321)
# Every label map is checked as it is loaded: class ids below num_classes or
# 255 (ignored), and the size of its image (mmseg_csl's CheckSegMap).
seg_map_check = dict(type='CheckSegMap', num_classes=21)
# RandomResize with a square scale s rescales the long side to s x [0.5, 2.0]:
# the reference code's rescaling of VOC images (long side 500 px).
geometric = [
    dict(type='RandomResize', scale=(500, 500), ratio_range=(0.5, 2.0),
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
# Evaluation at the original resolution, as the paper's.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    seg_map_check,
    dict(type='PackSegInputs'),
]
split_dataset = dict(
    type='UniMatchSplitDataset', data_root=data_root, metainfo_from='PascalVOCDataset')
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
        type='PascalVOCDataset',
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
