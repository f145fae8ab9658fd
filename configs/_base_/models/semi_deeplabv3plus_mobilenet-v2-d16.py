# deeplabv3plus_mobilenet-v2-d16.py inside SemiSegmentor; a benchmark base chooses
# the method (../semi/methods.py) and the padded crop size.
_base_ = ['./deeplabv3plus_mobilenet-v2-d16.py', '../semi/methods.py']
model = dict(
    _delete_=True,
    type='SemiSegmentor',
    segmentor=_base_.model,
    data_preprocessor=dict(
        type='MultiBranchDataPreProcessor', data_preprocessor=_base_.data_preprocessor),
    semi_train_cfg=dict())
