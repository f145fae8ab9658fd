from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .empty_dataset_check import NonEmptyDatasetMixin


@DATASETS.register_module()
class CamVidDataset(NonEmptyDatasetMixin, BaseSegDataset):
    """CamVid in the 11-class version of SegNet (Brostow et al., 2009).

    Layout: ``img_dir/{train,val,test}/*.jpg`` and ``ann_dir/{split}/*.png``
    of class ids 0-10, 255 for void (ignored). Class 6 is "sign/symbol".
    The palette is the colour coding of the original CamVid labels.
    """
    METAINFO = dict(
        classes=('sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign',
                 'fence', 'car', 'pedestrian', 'bicyclist'),
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128],
                 [0, 0, 192], [128, 128, 0], [192, 128, 128], [64, 64, 128],
                 [64, 0, 128], [64, 64, 0], [0, 128, 192]])

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)
