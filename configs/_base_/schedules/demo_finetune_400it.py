# The demo's fine-tuning schedule: 400 iterations of SGD (momentum 0.9, weight
# decay 1e-4) from lr 0.03, under a third of the from-scratch rate, with poly
# decay; a log line every 10 iterations, one validation and one checkpoint at the
# end. The leaves start from the supervised demo model with `load_from` (its
# weights only: the optimizer, the schedule and the iteration count start afresh).
_base_ = ['./demo_400it.py']
max_iters = 400
optim_wrapper = dict(optimizer=dict(lr=0.03))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_iters))
