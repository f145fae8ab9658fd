# The demo's supervised-only model, trained from scratch on the labeled split
# alone with the labeled batch of the semi-supervised runs (4 images): the warm
# start that the demo's other runs continue from (tools/demo.py).
_base_ = [
    '../_base_/models/tiny_deeplabv3plus.py', '../_base_/datasets/semi_shapes.py',
    '../_base_/schedules/demo_800it.py', '../_base_/default_runtime.py'
]
model = dict(data_preprocessor=dict(size=_base_.crop_size))
train_dataloader = dict(_base_.supervised_dataloader, _delete_=True)
