from typing import List

from mmseg.datasets import BaseSegDataset, COCOStuffDataset
from mmseg.registry import DATASETS

from .empty_dataset_check import NonEmptyDatasetMixin


def _voc_style_palette(num_classes: int) -> List[List[int]]:
    """Pascal VOC's colour map for ``num_classes`` ids: bit k of an id goes to
    bit 7 - k // 3 of red, green or blue (k % 3). Id 0 is black and the first
    21 colours are those of ``PascalVOCDataset``."""
    palette = []
    for class_id in range(num_classes):
        rgb = [0, 0, 0]
        for bit in range(class_id.bit_length()):
            rgb[bit % 3] |= ((class_id >> bit) & 1) << (7 - bit // 3)
        palette.append(rgb)
    return palette


@DATASETS.register_module()
class COCOObjectDataset(NonEmptyDatasetMixin, BaseSegDataset):
    """COCO as a semantic segmentation set of 81 classes: background and the
    80 object ("thing") categories, in COCO's category order (1 = person).

    The label maps are uint8 PNGs of class ids 0..80 (255: ignored), made from
    COCO's instance annotations by ``tools/dataset_converters/coco_object.py``
    (which says how overlaps and crowd regions are painted). Layout, that of
    the masks UniMatch published, so its split files apply unchanged::

        data/coco/
          train2017/000000000009.jpg ...
          val2017/000000000139.jpg ...
          masks/000000000009.png, 000000000139.png ...  (both splits)

    Config: ``data_root='data/coco', data_prefix=dict(img_path='train2017',
    seg_map_path='masks')`` (``val2017`` for validation).
    """
    METAINFO = dict(
        # mmseg's COCO-Stuff lists the 80 things first, in COCO's order.
        classes=('background', *COCOStuffDataset.METAINFO['classes'][:80]),
        palette=_voc_style_palette(81))

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
