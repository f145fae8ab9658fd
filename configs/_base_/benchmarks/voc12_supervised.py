# The supervised-only baseline on Pascal VOC 2012: the segmentor of voc12_setup.py
# trained on the labeled split alone, as the reference code's baseline: 4 GPUs x
# 4 images, 80 passes over the labeled split, the same learning rate.
_base_ = './voc12_setup.py'
model = dict(
    _base_.model.segmentor,
    _delete_=True,
    data_preprocessor=dict(_base_.data_preprocessor, size=_base_.crop_size))
train_dataloader = dict(_base_.supervised_dataloader, _delete_=True)
auto_scale_lr = dict(base_batch_size=16)
train_cfg = dict(max_epochs=80, val_interval=8)
default_hooks = dict(checkpoint=dict(interval=8))
custom_hooks = [dict(type='ClassCountCheckHook')]
