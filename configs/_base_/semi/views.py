# Branch pipelines of semi-supervised training (docs/method.md, "The training
# step"). They come after the geometric transforms of a dataset's pipeline, so
# every view of one sample shares its crop and flip and the views differ
# photometrically only.
pack = dict(
    type='PackSegInputs',
    meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
               'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
               'masked_view'))
strong_photometric = [
    dict(type='TorchvisionColorJitter', brightness=0.5, contrast=0.5, saturation=0.5,
         hue=0.25, prob=0.8),
    dict(type='TorchvisionRandomGrayscale', prob=0.2),
    dict(type='RandomGaussianBlur', sigma_range=(0.1, 2.0), prob=0.5),
]
branch_field = ['sup', 'unsup_weak', 'unsup_strong1', 'unsup_strong2']
labeled_branches = dict(type='MultiBranch', branch_field=branch_field, sup=[pack])
# The CSL release and UniMatch: two strong views alike.
unlabeled_branches = dict(
    type='MultiBranch',
    branch_field=branch_field,
    unsup_weak=[pack],
    unsup_strong1=strong_photometric + [pack],
    unsup_strong2=strong_photometric + [pack])
# The masking version: the second strong view is, with p 1/2, a mild view that the
# model masks on its reliable pixels, else an ordinary strong view. Every sample of
# this branch says which it is (`masked_view`), so that SemiSegmentor knows the
# branch for a masked-view branch and refuses to CutMix it. This pipeline is the
# one switch of the masking: SemiSegmentor masks the views it marks.
mild_masked_view = [
    dict(type='TorchvisionColorJitter', brightness=0.2, contrast=0.2, saturation=0.2,
         hue=0.2, prob=0.8),
    dict(type='RandomGaussianBlur', sigma_range=(0.1, 2.0), prob=0.5),
    dict(type='AddMetaInfo', masked_view=True),
]
unmasked_strong_view = strong_photometric + [
    dict(type='AddMetaInfo', masked_view=False)]
unlabeled_branches_masking = dict(
    unlabeled_branches,
    unsup_strong2=[
        dict(type='RandomChoice', transforms=[mild_masked_view, unmasked_strong_view]),
        pack,
    ])
