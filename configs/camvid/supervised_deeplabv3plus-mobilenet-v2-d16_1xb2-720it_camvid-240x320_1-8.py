# The supervised-only baseline on CamVid, split 1/8:
# the 46 labeled frames of the 367 alone.
_base_ = '../_base_/benchmarks/camvid_supervised.py'
train_dataloader = dict(dataset=dict(ann_file=_base_.splits_dir + '/1_8/labeled.txt'))
