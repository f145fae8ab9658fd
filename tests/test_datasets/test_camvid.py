from pathlib import Path

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from mmseg_csl.datasets import CamVidDataset
from tests.data_utils import prepared_camvid
from tests.tool_utils import REPO_ROOT

CONFIG = REPO_ROOT / 'configs' / '_base_' / 'datasets' / 'camvid.py'
SPLITS = ('train', 'val', 'test')
DATALOADERS = dict(train='train_dataloader', val='val_dataloader',
                   test='test_dataloader')


def write_miniature_camvid(root: Path, counts: dict) -> dict:
    """CamVid's layout with ``counts[split]`` random 360x480 frames per split;
    returns the label maps written, by split and file stem."""
    rng = np.random.default_rng(0)
    labels = {}
    for split, count in counts.items():
        (root / 'img_dir' / split).mkdir(parents=True)
        (root / 'ann_dir' / split).mkdir(parents=True)
        labels[split] = {}
        for i in range(count):
            stem = f'0001TP_{i:06d}'
            image = rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)
            label = rng.choice([*range(11), 255], (360, 480)).astype(np.uint8)
            cv2.imwrite(str(root / 'img_dir' / split / f'{stem}.jpg'), image)
            cv2.imwrite(str(root / 'ann_dir' / split / f'{stem}.png'), label)
            labels[split][stem] = label
    return labels


def build_split(split: str) -> CamVidDataset:
    cfg = Config.fromfile(str(CONFIG))
    init_default_scope('mmseg')
    return DATASETS.build(cfg[DATALOADERS[split]].dataset)


def test_config_builds_camvid_from_a_miniature_copy(tmp_path, monkeypatch):
    counts = dict(train=3, val=2, test=1)
    labels = write_miniature_camvid(tmp_path, counts)
    monkeypatch.setenv('CAMVID_ROOT', str(tmp_path))
    datasets = {split: build_split(split) for split in SPLITS}

    assert {split: len(datasets[split]) for split in SPLITS} == counts
    assert datasets['train'].metainfo['classes'] == CamVidDataset.METAINFO['classes']
    assert len(datasets['train'].metainfo['palette']) == 11
    assert datasets['train'].get_data_info(0)['img_path'].startswith(str(tmp_path))

    channels, height, width = datasets['train'][0]['inputs'].shape
    assert channels == 3 and 180 <= height <= 240 and 240 <= width <= 320

    test_sample = datasets['test'][0]
    assert tuple(test_sample['inputs'].shape) == (3, 360, 480)
    label = test_sample['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(label, labels['test']['0001TP_000000'])


def test_config_builds_the_prepared_camvid():
    prepared_camvid()  # the config reads CAMVID_ROOT
    datasets = {split: build_split(split) for split in SPLITS}

    assert {split: len(datasets[split]) for split in SPLITS} == dict(
        train=367, val=101, test=233)
    sample = datasets['val'][0]
    assert tuple(sample['inputs'].shape) == (3, 360, 480)
    classes = np.unique(sample['data_samples'].gt_sem_seg.data.numpy())
    assert set(classes.tolist()) <= {*range(11), 255}
