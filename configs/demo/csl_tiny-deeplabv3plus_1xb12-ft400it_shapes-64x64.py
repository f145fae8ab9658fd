# The demo's CSL fine-tuning: the supervised demo model trained 400 more
# iterations with the CSL release on the labeled and the unlabeled images.
_base_ = [
    '../_base_/benchmarks/shapes_setup.py',
    '../_base_/schedules/demo_finetune_400it.py'
]
model = dict(semi_train_cfg=_base_.csl_release)
load_from = 'work_dirs/demo/warm_start/iter_800.pth'
