# The CSL release on COCO (docs/method.md): CSL selection on (c, g v)
# with a = 2, CutMix on both strong views, BatchNorm statistics from the
# [labeled; weak] forward only.
_base_ = './coco_object_setup.py'
model = dict(semi_train_cfg=_base_.csl_release)
