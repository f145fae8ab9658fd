# UniMatch with threshold 0 (every pseudo-label used) on CamVid, split 1/8:
# 46 labeled frames of the 367, the other 321 unlabeled.
_base_ = '../_base_/benchmarks/camvid_unimatch-t0.py'
split = _base_.splits_dir + '/1_8'
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(_base_.labeled_dataset, ann_file=f'{split}/labeled.txt'),
        dict(_base_.unlabeled_dataset, ann_file=f'{split}/unlabeled.txt'),
    ]))
