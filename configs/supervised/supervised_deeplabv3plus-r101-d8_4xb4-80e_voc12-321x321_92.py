# The supervised-only baseline on Pascal VOC 2012, classic split:
# the 92 labeled images of the 1464 fine set alone.
_base_ = '../_base_/benchmarks/voc12_supervised.py'
split = 'splits/92'
train_dataloader = dict(dataset=dict(ann_file=f'{split}/labeled.txt'))
