# UniMatch on CamVid on CPU with threshold 0 (every pseudo-label used, UniMatch's
# released Cityscapes setting): the training of camvid_unimatch.py (CutMix on both
# strong views, its BatchNorm handling) with ThresholdSelector(threshold=0.0).
_base_ = './camvid_setup.py'
model = dict(
    semi_train_cfg=dict(
        _base_.unimatch, selector=dict(type='ThresholdSelector', threshold=0.0)))
