# The schedule of the demo's supervised model (the warm start of its other runs):
# demo_400it.py's, twice as long.
_base_ = ['./demo_400it.py']
max_iters = 800
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
