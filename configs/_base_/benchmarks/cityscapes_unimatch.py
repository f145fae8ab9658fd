# The UniMatch baseline on Cityscapes: the model, data and schedule of every method
# here with UniMatch's training (CutMix on both strong views, its BatchNorm
# handling) at its released Cityscapes threshold, 0: every pixel counts.
_base_ = './cityscapes_setup.py'
model = dict(
    semi_train_cfg=dict(
        _base_.unimatch, selector=dict(type='ThresholdSelector', threshold=0.0)))
