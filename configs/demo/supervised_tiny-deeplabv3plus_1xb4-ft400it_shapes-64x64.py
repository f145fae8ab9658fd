# The demo's supervised-only fine-tuning: the supervised demo model trained 400
# more iterations on the labeled split alone, the baseline of the runs that add
# the unlabeled images.
_base_ = [
    '../_base_/models/tiny_deeplabv3plus.py', '../_base_/datasets/semi_shapes.py',
    '../_base_/schedules/demo_finetune_400it.py', '../_base_/default_runtime.py'
]
model = dict(data_preprocessor=dict(size=_base_.crop_size))
train_dataloader = dict(_base_.supervised_dataloader, _delete_=True)
load_from = 'work_dirs/demo/warm_start/iter_800.pth'
