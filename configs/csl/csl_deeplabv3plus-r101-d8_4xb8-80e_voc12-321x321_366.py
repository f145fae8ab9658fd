# The CSL release with its own schedule (32 + 32 + 32 a step) on Pascal VOC
# 2012, classic split:
# 366 labeled images of the 1464 fine set, the other 10216 unlabeled.
_base_ = '../_base_/benchmarks/voc12_csl_4xb8.py'
split = 'splits/366'
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.labeled_dataset, ann_file=f'{split}/labeled.txt'),
        dict(_base_.unlabeled_dataset, ann_file=f'{split}/unlabeled.txt'),
    ]))
