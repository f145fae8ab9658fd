# deeplabv3plus_r101-d8.py inside SemiSegmentor. Feature perturbation, CutMix
# boxes, masking blocks and the loss weights are SemiSegmentor's defaults (those of
# the reference code); a benchmark base chooses the method (../semi/methods.py),
# the classes and the padded crop size (data_preprocessor.size).
_base_ = ['./deeplabv3plus_r101-d8.py', '../semi/methods.py']
model = dict(
    _delete_=True,
    type='SemiSegmentor',
    segmentor=_base_.model,
    data_preprocessor=dict(
        type='MultiBranchDataPreProcessor', data_preprocessor=_base_.data_preprocessor),
    semi_train_cfg=dict())
