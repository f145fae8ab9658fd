# The model of the paper (CSL_SPEC section 5): mmseg's DeepLabV3+ at depth 101,
# ImageNet-pretrained ResNetV1c, output stride 8 (last two stages dilated), ASPP
# dilations (1, 12, 24, 36), SyncBN. Unlike mmseg's base it has no auxiliary FCN
# head (the reference code trains none) and aligns corners when resizing (the
# crops 321, 513 and 801 are 8k + 1 pixels, made for align_corners=True).
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
model = dict(
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101),
    decode_head=dict(align_corners=True),
    auxiliary_head=None)
