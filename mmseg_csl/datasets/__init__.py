from .camvid import CamVidDataset
from .coco_object import COCOObjectDataset
from .empty_dataset_check import (
    NonEmptyDatasetMixin,
    describe_data_source,
    empty_datasets_named,
)
from .samplers import *  # noqa: F401,F403
from .semi_supervised_dataset import SemiSupervisedDataset
from .transforms import *  # noqa: F401,F403
from .unimatch_split import UniMatchSplitDataset
from .unlabeled_image_dataset import UnlabeledImageDataset
