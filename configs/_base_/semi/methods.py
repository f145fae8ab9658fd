# SemiSegmentor's `semi_train_cfg` of each reference run (docs/method.md). A
# benchmark base picks one; the masking version also needs the unlabeled pipeline
# with masked views (views.py's `unlabeled_branches_masking`).
# The CSL release: features (c, g v), a = 2, CutMix on both strong views, both
# pasted from the first strong view of the CutMix sources; only the
# [labeled; weak] forward updates the BatchNorm running statistics.
csl_release = dict(
    selector=dict(type='CSLSelector', variant='release'),
    cutmix=dict(views=('strong1', 'strong2'), source_view='strong1'),
    bn_running_stats='weak_forward')
# The masking version: features (log c, -g v), a = 8, the second strong view never
# mixed (masked on its reliable pixels when the pipeline marks it); BatchNorm as
# the release.
csl_masking = dict(
    selector=dict(type='CSLSelector', variant='masking'),
    cutmix=dict(views=('strong1', )),
    bn_running_stats='weak_forward')
# UniMatch: a fixed confidence threshold of 0.95, CutMix on both strong views, the
# CutMix sources predicted in eval mode and the strong forward updating the
# running statistics.
unimatch = dict(
    selector=dict(type='ThresholdSelector', threshold=0.95),
    cutmix=dict(views=('strong1', 'strong2')),
    bn_running_stats='unimatch')
