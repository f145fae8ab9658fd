# deeplabv3plus_mobilenet-v2-d16.py inside SemiSegmentor with CSL's training
# (CSL_SPEC sections 2-5): CSL selection with a = 8 and random 32x32 block masking
# (ratio 0.7) of the reliable pixels of the masked strong views; feature
# perturbation, CutMix and the loss weights are SemiSegmentor's defaults. The
# benchmarks set the classes and the padded crop size (data_preprocessor.size).
_base_ = ['./deeplabv3plus_mobilenet-v2-d16.py']
model = dict(
    _delete_=True,
    type='SemiSegmentor',
    segmentor=_base_.model,
    data_preprocessor=dict(
        type='MultiBranchDataPreProcessor', data_preprocessor=_base_.data_preprocessor),
    semi_train_cfg=dict(
        selector=dict(type='CSLSelector', alpha=8.0),
        masking=dict(enabled=True, block_size=32, ratio=0.7)))
