# The CSL release on Cityscapes:
# 744 labeled images of 2975, the other 2231 unlabeled.
_base_ = '../_base_/benchmarks/cityscapes_csl.py'
split = 'splits/1_4'
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.labeled_dataset, ann_file=f'{split}/labeled.txt'),
        dict(_base_.unlabeled_dataset, ann_file=f'{split}/unlabeled.txt'),
    ]))
