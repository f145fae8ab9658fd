# The UniMatch baseline on CamVid on CPU: the model, data and schedule of every
# method here with UniMatch's training (a fixed confidence threshold of 0.95,
# CutMix on both strong views, its BatchNorm handling).
_base_ = './camvid_setup.py'
model = dict(semi_train_cfg=_base_.unimatch)
