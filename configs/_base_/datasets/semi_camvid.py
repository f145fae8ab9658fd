# Semi-supervised CamVid (11 classes, 367 training frames): labeled and unlabeled
# frames of the train split, as listed by the split files of
# tools/dataset_converters/make_splits.py. The dataset is read in place and the
# split files live outside it, in `splits_dir`/<1_8 | 1_4>/{labeled,unlabeled}.txt:
# work_dirs/camvid_benchmark/splits relative to the working directory (the
# repository root) unless the environment variable CAMVID_SPLITS names another
# folder (benchmarks/camvid/run.py writes them there). A leaf gives the two datasets
# their files; `supervised_dataloader` is the labeled split alone, for the
# supervised-only baseline. Unlabeled frames load their label maps for the
# selection diagnostics of CSLSelectorHook only: no loss reads them.
_base_ = ['./camvid.py', '../semi/views.py']
splits_dir = '{{$CAMVID_SPLITS:work_dirs/camvid_benchmark/splits}}'
# camvid.py's geometric augmentation (the 480x360 frame rescaled by 0.5-2.0, crop,
# flip), shared by every view of a sample; the crop does not look at label maps,
# which unlabeled data do not have. The photometric perturbation is the views'.
geometric = [
    dict(type='RandomResize', scale=(480, 360), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=_base_.crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
]
labeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    _base_.seg_map_check,
    *geometric,
    {{_base_.labeled_branches}},
]
unlabeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    _base_.seg_map_check,
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
    _base_.seg_map_check,
    *geometric,
    dict(type='PackSegInputs'),
]
# No data_root here, so that the split files are found relative to the working
# directory rather than inside the dataset; the image folders carry the root.
split_dataset = dict(
    type=_base_.dataset_type,
    data_prefix=dict(
        img_path=_base_.data_root + '/img_dir/train',
        seg_map_path=_base_.data_root + '/ann_dir/train'))
labeled_dataset = dict(split_dataset, pipeline=labeled_pipeline)
unlabeled_dataset = dict(split_dataset, pipeline=unlabeled_pipeline)
# 2 labeled and 4 unlabeled frames a step (2 trained, 2 CutMix sources). Data are
# loaded in the training process (num_workers=0): on 2 CPU cores the model takes
# the cores, and the process's peak memory is then the run's.
train_dataloader = dict(
    _delete_=True,
    batch_size=6,
    num_workers=0,
    sampler=dict(type='MultiSourceSampler', batch_size=6, source_ratio=[1, 2]),
    dataset=dict(type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
supervised_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(split_dataset, pipeline=supervised_pipeline))
# Validation (the curves during training) on every 4th frame of the val split (26
# of 101); the test split (233 frames) at full resolution gives the results.
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(indices=list(range(0, 101, 4))))
test_dataloader = dict(num_workers=0, persistent_workers=False)
