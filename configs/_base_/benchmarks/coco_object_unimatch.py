# The UniMatch baseline on COCO: the model, data and schedule of every method here
# with UniMatch's training (a fixed confidence threshold of 0.95, CutMix on both
# strong views, its BatchNorm handling).
_base_ = './coco_object_setup.py'
model = dict(semi_train_cfg=_base_.unimatch)
