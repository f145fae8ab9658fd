# CSL without random masking on CamVid on CPU (the authors' later releases): the
# masking-off training of camvid_unimatch.py with CSL's selection at a = 2.
_base_ = './camvid_unimatch.py'
model = dict(
    semi_train_cfg=dict(selector=dict(_delete_=True, type='CSLSelector', alpha=2.0)))
