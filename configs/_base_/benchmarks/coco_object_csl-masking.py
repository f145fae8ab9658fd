# The masking version of CSL on COCO (docs/method.md): CSL selection on
# (log c, -g v) with a = 8, the second strong view a masked view (its reliable
# pixels masked in 32x32 blocks) with p 1/2 and never mixed, BatchNorm statistics
# from the [labeled; weak] forward only.
_base_ = './coco_object_setup.py'
model = dict(semi_train_cfg=_base_.csl_masking)
unlabeled_dataset = dict(_base_.unlabeled_dataset,
                         pipeline=_base_.unlabeled_pipeline_masking)
train_dataloader = dict(
    dataset=dict(datasets=[_base_.labeled_dataset, unlabeled_dataset]))
