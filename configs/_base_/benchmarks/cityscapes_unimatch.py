# The UniMatch baseline on Cityscapes: the training of cityscapes_csl.py with a
# fixed confidence threshold instead of CSL's selection, and no masking (two
# CutMix strong views). The threshold is 0 (every pixel counts): UniMatch's
# released Cityscapes setting, that of its published numbers.
_base_ = './cityscapes_csl.py'
model = dict(
    semi_train_cfg=dict(
        selector=dict(_delete_=True, type='ThresholdSelector', threshold=0.0),
        masking=dict(enabled=False)))
unlabeled_dataset = dict(_base_.unlabeled_dataset,
                         pipeline=_base_.unlabeled_pipeline_no_masking)
train_dataloader = dict(
    dataset=dict(datasets=[_base_.labeled_dataset, unlabeled_dataset]))
