# The masking version of CSL on COCO (81 classes):
# 3697 labeled images of 118287, the other 114590 unlabeled.
_base_ = '../_base_/benchmarks/coco_object_csl-masking.py'
split = 'splits/1_32'
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.labeled_dataset, ann_file=f'{split}/labeled.txt'),
        dict(_base_.unlabeled_dataset, ann_file=f'{split}/unlabeled.txt'),
    ]))
