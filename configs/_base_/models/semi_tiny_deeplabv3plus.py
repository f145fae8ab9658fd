# tiny_deeplabv3plus.py inside SemiSegmentor (the demo's model); the config on top
# chooses the method (../semi/methods.py) and the padded crop size.
_base_ = ['./tiny_deeplabv3plus.py', '../semi/methods.py']
model = dict(
    _delete_=True,
    type='SemiSegmentor',
    segmentor=_base_.model,
    data_preprocessor=dict(
        type='MultiBranchDataPreProcessor', data_preprocessor=_base_.data_preprocessor),
    semi_train_cfg=dict())
