import os.path as osp
from typing import List, Optional, Tuple

import mmengine
from mmengine.fileio import exists, join_path
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .empty_dataset_check import NonEmptyDatasetMixin

MAX_LISTED = 5


@DATASETS.register_module()
class UniMatchSplitDataset(NonEmptyDatasetMixin, BaseSegDataset):
    """The samples a split file lists, in any folder layout (VOC, Cityscapes,
    COCO, ...); checked to exist before training starts.

    Each line of ``ann_file`` is one sample, in either of two forms:

    - ``<image path> <mask path>``, both relative to ``data_root``: the split
      files published with UniMatch, e.g.
      ``JPEGImages/2007_000032.jpg SegmentationClass/2007_000032.png``.
    - ``<name>``: mmseg's ``ann_file`` lines; the image is
      ``data_prefix['img_path']/<name><img_suffix>``, the mask
      ``data_prefix['seg_map_path']/<name><seg_map_suffix>`` (no mask without
      ``seg_map_path``).

    Classes and palette come from ``metainfo_from``, the name of a registered
    dataset type (``'PascalVOCDataset'``, ``'CityscapesDataset'``,
    ``'COCOObjectDataset'``...), updated by ``metainfo``.

    Unlabeled data (``labeled=False``): only the images must exist; a mask
    path is still given to the pipeline when the line names one (for a
    ``LoadAnnotations`` kept for diagnostics), so whether a label is loaded
    is the pipeline's choice.

    Args:
        ann_file (str): The split file; relative to ``data_root`` unless
            absolute (mmseg's rule).
        metainfo_from (str, optional): Dataset type whose ``METAINFO`` this
            dataset takes. Defaults to None (only ``metainfo``).
        labeled (bool): Whether every sample must have a mask that exists.
            Defaults to True.
        **kwargs: ``BaseSegDataset``'s arguments (``data_root``,
            ``data_prefix``, suffixes, ``metainfo``, ``pipeline``...).

    Raises:
        FileNotFoundError: when listed images (or masks, if ``labeled``) do
            not exist; the message names the first few.

    Example:
        >>> dict(type='UniMatchSplitDataset',
        ...      data_root='data/VOCdevkit/VOC2012',
        ...      ann_file='splits/pascal/92/labeled.txt',
        ...      metainfo_from='PascalVOCDataset', pipeline=[...])
    """

    def __init__(self,
                 ann_file: str,
                 metainfo_from: Optional[str] = None,
                 labeled: bool = True,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if not ann_file:
            raise ValueError('UniMatchSplitDataset needs an ann_file (a split file)')
        if metainfo_from is not None:
            source = DATASETS.get(metainfo_from)
            if source is None:
                raise KeyError(f'metainfo_from: {metainfo_from!r} is not a '
                               'registered dataset type')
            metainfo = {**source.METAINFO, **(metainfo or {})}
        self.labeled = labeled
        super().__init__(ann_file=ann_file, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One data info per line of ``ann_file``, after checking that the
        files exist."""
        if not exists(self.ann_file, backend_args=self.backend_args):
            raise FileNotFoundError(f'split file {self.ann_file} does not exist')
        lines = mmengine.list_from_file(
            self.ann_file, backend_args=self.backend_args)
        data_list = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            img_path, seg_map_path = self._paths(line, number)
            data_info = dict(
                img_path=img_path,
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[])
            if seg_map_path is not None:
                data_info['seg_map_path'] = seg_map_path
            data_list.append(data_info)
        if not data_list:
            raise ValueError(f'split file {self.ann_file} lists no samples')
        self._check_files_exist(data_list)
        return data_list

    def _paths(self, line: str, number: int) -> Tuple[str, Optional[str]]:
        """(image path, mask path or None) of one split-file line."""
        fields = line.split()
        if len(fields) == 2:
            img_path, seg_map_path = (
                join_path(self.data_root, path) if self.data_root else path
                for path in fields)
            return img_path, seg_map_path
        if len(fields) != 1:
            raise ValueError(
                f'{self.ann_file} line {number}: expected "<image> <mask>" '
                f'or "<name>", got {line!r}')
        name = fields[0]
        img_path = osp.join(self.data_prefix.get('img_path', ''),
                            name + self.img_suffix)
        ann_dir = self.data_prefix.get('seg_map_path')
        if ann_dir is None:
            if self.labeled:
                raise ValueError(
                    f'{self.ann_file} line {number} names no mask: a labeled '
                    "split of names needs data_prefix['seg_map_path']")
            return img_path, None
        return img_path, osp.join(ann_dir, name + self.seg_map_suffix)

    def _check_files_exist(self, data_list: List[dict]) -> None:
        keys = ('img_path', 'seg_map_path') if self.labeled else ('img_path', )
        missing = [
            info[key] for info in data_list for key in keys
            if not exists(info[key], backend_args=self.backend_args)
        ]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} files named by the split {self.ann_file} do '
                f'not exist, e.g. {missing[:MAX_LISTED]}')
