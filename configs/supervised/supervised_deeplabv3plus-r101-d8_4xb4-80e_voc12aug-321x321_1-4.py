# The supervised-only baseline on Pascal VOC 2012, blended split:
# the 2646 labeled images of the 10582 augmented set alone.
_base_ = '../_base_/benchmarks/voc12_supervised.py'
split = 'splits/1_4'
train_dataloader = dict(dataset=dict(ann_file=f'{split}/labeled.txt'))
