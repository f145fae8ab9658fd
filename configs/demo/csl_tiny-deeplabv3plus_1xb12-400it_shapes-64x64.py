# The CSL release trained from scratch on the demo's synthetic shapes: per batch
# 4 labeled and 8 unlabeled images (4 trained, 4 CutMix sources).
_base_ = [
    '../_base_/benchmarks/shapes_setup.py', '../_base_/schedules/demo_400it.py'
]
model = dict(semi_train_cfg=_base_.csl_release)
