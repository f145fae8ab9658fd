import cv2
import numpy as np
from mmengine.registry import init_default_scope
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

from mmseg_csl.datasets import COCOObjectDataset


def test_metainfo_has_background_and_the_80_things_in_coco_order():
    classes = COCOObjectDataset.METAINFO['classes']
    palette = COCOObjectDataset.METAINFO['palette']
    assert len(classes) == len(set(classes)) == 81
    assert classes[:4] == ('background', 'person', 'bicycle', 'car')
    # COCO's id 63 is the 58th of its sorted ids (12, 26, 29, 30, 45 are unused).
    assert classes[-1] == 'toothbrush' and classes[58] == 'couch'
    assert len(palette) == 81 and len({tuple(colour) for colour in palette}) == 81
    assert all(0 <= value <= 255 for colour in palette for value in colour)
    # Background black and VOC's colours for the first 21 ids.
    assert palette[:21] == PascalVOCDataset.METAINFO['palette']


def test_reads_the_converter_layout(tmp_path):
    init_default_scope('mmseg')
    rng = np.random.default_rng(0)
    labels = {}
    for name in ('000000000009', '000000000025'):
        (tmp_path / 'train2017').mkdir(exist_ok=True)
        (tmp_path / 'masks').mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / 'train2017' / f'{name}.jpg'),
                    rng.integers(0, 256, (6, 8, 3), np.uint8))
        labels[name] = rng.integers(0, 81, (6, 8), np.uint8)
        labels[name][0, 0] = 255
        cv2.imwrite(str(tmp_path / 'masks' / f'{name}.png'), labels[name])
    # A val mask in the same folder is not a training sample.
    cv2.imwrite(str(tmp_path / 'masks' / '000000000139.png'), labels[name])
    dataset = DATASETS.build(dict(
        type='COCOObjectDataset', data_root=str(tmp_path),
        data_prefix=dict(img_path='train2017', seg_map_path='masks'),
        pipeline=[{'type': 'LoadImageFromFile'}, {'type': 'LoadAnnotations'}]))
    assert isinstance(dataset, COCOObjectDataset) and len(dataset) == 2
    for index, name in enumerate(sorted(labels)):
        sample = dataset[index]
        assert sample['img_path'].endswith(f'train2017/{name}.jpg')
        np.testing.assert_array_equal(sample['gt_seg_map'], labels[name])
