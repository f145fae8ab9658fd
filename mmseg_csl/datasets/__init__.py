from .camvid import CamVidDataset
from .coco_object import COCOObjectDataset
from .empty_dataset_check import describe_data_source, setup_empty_dataset_check
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
from .unimatch_split import UniMatchSplitDataset

setup_empty_dataset_check()
