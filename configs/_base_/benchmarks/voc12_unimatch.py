# The UniMatch baseline on Pascal VOC 2012: the model, data and schedule of every
# method here with UniMatch's training (a fixed confidence threshold of 0.95,
# CutMix on both strong views, its BatchNorm handling).
_base_ = './voc12_setup.py'
model = dict(semi_train_cfg=_base_.unimatch)
