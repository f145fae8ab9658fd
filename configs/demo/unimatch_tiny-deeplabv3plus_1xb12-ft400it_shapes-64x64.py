# The demo's fixed-threshold fine-tuning: the supervised demo model trained 400
# more iterations with UniMatch (confidence threshold 0.95) on the labeled and
# the unlabeled images.
_base_ = [
    '../_base_/benchmarks/shapes_setup.py',
    '../_base_/schedules/demo_finetune_400it.py'
]
model = dict(semi_train_cfg=_base_.unimatch)
load_from = 'work_dirs/demo/warm_start/iter_800.pth'
