# The masking version of CSL on Cityscapes:
# 1488 labeled images of 2975, the other 1487 unlabeled.
_base_ = '../_base_/benchmarks/cityscapes_csl-masking.py'
split = 'splits/1_2'
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.labeled_dataset, ann_file=f'{split}/labeled.txt'),
        dict(_base_.unlabeled_dataset, ann_file=f'{split}/unlabeled.txt'),
    ]))
