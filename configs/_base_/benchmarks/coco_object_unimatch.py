# The UniMatch baseline on COCO: the training of coco_object_csl.py with a fixed
# confidence threshold (0.95) instead of CSL's selection, and no masking (two
# CutMix strong views).
_base_ = './coco_object_csl.py'
model = dict(
    semi_train_cfg=dict(
        selector=dict(_delete_=True, type='ThresholdSelector', threshold=0.95),
        masking=dict(enabled=False)))
unlabeled_dataset = dict(_base_.unlabeled_dataset,
                         pipeline=_base_.unlabeled_pipeline_no_masking)
train_dataloader = dict(
    dataset=dict(datasets=[_base_.labeled_dataset, unlabeled_dataset]))
