# The supervised-only baseline on CamVid on CPU: the segmentor of camvid_setup.py
# trained on the labeled split alone, with the same labeled batch (2 frames),
# iterations and learning rates.
_base_ = './camvid_setup.py'
model = dict(
    _base_.model.segmentor,
    _delete_=True,
    data_preprocessor=dict(_base_.data_preprocessor, size=_base_.crop_size))
train_dataloader = dict(_base_.supervised_dataloader, _delete_=True)
custom_hooks = [dict(type='ClassCountCheckHook')]
