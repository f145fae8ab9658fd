# The supervised-only baseline on COCO (81 classes):
# the 3697 labeled images of 118287 alone.
_base_ = '../_base_/benchmarks/coco_object_supervised.py'
split = 'splits/1_32'
train_dataloader = dict(dataset=dict(ann_file=f'{split}/labeled.txt'))
