# The supervised-only baseline on Cityscapes: the segmentor of cityscapes_setup.py
# (its evaluation included) trained on the labeled split alone, as the reference
# code's baseline: 4 GPUs x 4 images, 240 passes over the labeled split, the same
# learning rate.
_base_ = './cityscapes_setup.py'
model = dict(
    _base_.model.segmentor,
    _delete_=True,
    data_preprocessor=dict(_base_.data_preprocessor, size=_base_.crop_size))
train_dataloader = dict(_base_.supervised_dataloader, _delete_=True)
auto_scale_lr = dict(base_batch_size=16)
train_cfg = dict(max_epochs=240, val_interval=24)
default_hooks = dict(checkpoint=dict(interval=24))
custom_hooks = [dict(type='ClassCountCheckHook')]
