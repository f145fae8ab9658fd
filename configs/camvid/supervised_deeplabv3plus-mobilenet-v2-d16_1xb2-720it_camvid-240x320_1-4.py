# The supervised-only baseline on CamVid, split 1/4:
# the 92 labeled frames of the 367 alone.
_base_ = '../_base_/benchmarks/camvid_supervised.py'
train_dataloader = dict(dataset=dict(ann_file=_base_.splits_dir + '/1_4/labeled.txt'))
