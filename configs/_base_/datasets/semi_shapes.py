# The synthetic shapes dataset of the demo (mmseg_csl.datasets.synthetic_shapes),
# written by tools/demo.py: a labeled split, an unlabeled split (its label maps
# are loaded for the selection diagnostics only) and a validation split;
# `supervised_dataloader` reads the labeled split alone.
_base_ = ['../semi/views.py']
data_root = 'work_dirs/demo/shapes'
crop_size = (64, 64)
# Every label map is checked as it is loaded: class ids below num_classes or
# 255 (ignored), and the size of its image (mmseg_csl's CheckSegMap).
seg_map_check = dict(type='CheckSegMap', num_classes=4)
metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle'),
    palette=[[0, 0, 0], [220, 20, 60], [0, 128, 255], [255, 200, 0]])
geometric = [
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.75, 1.5),
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
    dict(type='LoadAnnotations'),
    seg_map_check,
    *geometric,
    {{_base_.unlabeled_branches}},
]
supervised_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    seg_map_check,
    *geometric,
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    seg_map_check,
    dict(type='PackSegInputs'),
]
split_dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.png',
    seg_map_suffix='.png',
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'))
labeled_dataset = dict(
    **split_dataset, ann_file='splits/labeled.txt', pipeline=labeled_pipeline)
unlabeled_dataset = dict(
    **split_dataset, ann_file='splits/unlabeled.txt', pipeline=unlabeled_pipeline)
batch_size = 12
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='MultiSourceSampler', batch_size=batch_size,
                 source_ratio=[1, 2]),
    dataset=dict(type='ConcatDataset',
                 datasets=[labeled_dataset, unlabeled_dataset]))
# The labeled split alone, for the supervised-only runs: the labeled batch of the
# semi-supervised loader (4 images).
supervised_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(labeled_dataset, pipeline=supervised_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
