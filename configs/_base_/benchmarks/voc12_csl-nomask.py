# CSL without random masking (the authors' later releases, and the test vectors
# of CSL_SPEC section 2): the masking-off training of voc12_unimatch.py (two
# CutMix strong views) with CSL's selection at a = 2.
_base_ = './voc12_unimatch.py'
model = dict(
    semi_train_cfg=dict(selector=dict(_delete_=True, type='CSLSelector', alpha=2.0)))
