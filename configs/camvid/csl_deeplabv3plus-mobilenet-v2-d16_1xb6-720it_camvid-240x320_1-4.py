# The CSL release on CamVid, split 1/4:
# 92 labeled frames of the 367, the other 275 unlabeled.
_base_ = '../_base_/benchmarks/camvid_csl.py'
split = _base_.splits_dir + '/1_4'
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.labeled_dataset, ann_file=f'{split}/labeled.txt'),
        dict(_base_.unlabeled_dataset, ann_file=f'{split}/unlabeled.txt'),
    ]))
