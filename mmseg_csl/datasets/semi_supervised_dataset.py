from typing import Union

from mmengine.dataset import ConcatDataset
from mmseg.registry import DATASETS
from torch.utils.data import Dataset


@DATASETS.register_module()
class SemiSupervisedDataset(ConcatDataset):
    """The labeled and the unlabeled dataset of semi-supervised training,
    concatenated in this order: the sources 0 and 1 of ``MultiSourceSampler``.

    mmengine's ``ConcatDataset`` requires equal metainfo, but unlabeled data
    has no classes (``UnlabeledImageDataset``), so this wrapper takes its
    metainfo from the labeled dataset alone and compares nothing; hooks and
    evaluators that read the training set's classes see the labeled ones.
    Either dataset may be a wrapper itself (e.g. a ``ConcatDataset`` of VOC
    and SBD).

    Args:
        labeled (dict | Dataset): The labeled dataset (or its config); its
            pipeline ends with ``MultiBranch`` (branch ``sup``).
        unlabeled (dict | Dataset): The unlabeled dataset (or its config);
            its pipeline ends with ``MultiBranch`` (the ``unsup_*`` views).
        lazy_init (bool): Defer loading the sample lists, as mmengine's
            datasets do. Defaults to False.
    """

    def __init__(self,
                 labeled: Union[dict, Dataset],
                 unlabeled: Union[dict, Dataset],
                 lazy_init: bool = False) -> None:
        # Not ConcatDataset.__init__: it accepts built datasets only if they
        # are BaseDataset (not a wrapper) and compares their metainfo.
        self.datasets = [
            DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
            for dataset in (labeled, unlabeled)
        ]
        self.ignore_keys = []
        self._metainfo = self.datasets[0].metainfo
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()
