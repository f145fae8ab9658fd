# The supervised-only baseline on Cityscapes:
# the 1488 labeled images of 2975 alone.
_base_ = '../_base_/benchmarks/cityscapes_supervised.py'
split = 'splits/1_2'
train_dataloader = dict(dataset=dict(ann_file=f'{split}/labeled.txt'))
