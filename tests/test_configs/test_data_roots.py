"""Every config parses without environment variables, and then reads its data
from ``data/<dataset>`` (docs/data.md), the demo's from the folder it
generates."""
from typing import Any, Iterator

import pytest
from mmengine.config import Config

from tests.tool_utils import REPO_ROOT

LEAVES = sorted(path for path in (REPO_ROOT / 'configs').glob('*/*.py')
                if path.parent.name != '_base_')
VARIABLES = ('VOC12_ROOT', 'CITYSCAPES_ROOT', 'COCO_ROOT', 'CAMVID_ROOT',
             'CAMVID_SPLITS')
DEFAULT_ROOTS = ('data/VOCdevkit/VOC2012', 'data/cityscapes', 'data/coco',
                 'data/camvid', 'work_dirs/demo/shapes')


def datasets(node: Any) -> Iterator[dict]:
    """Every dataset config nested in ``node``: the dicts with a
    ``data_prefix``."""
    if isinstance(node, dict):
        if 'data_prefix' in node:
            yield node
        for value in node.values():
            yield from datasets(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from datasets(value)


def test_the_leaves_are_found():
    assert len(LEAVES) > 60


@pytest.mark.parametrize('path', LEAVES, ids=lambda path: path.name)
def test_config_parses_with_the_default_data_roots(path, monkeypatch):
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    cfg = Config.fromfile(str(path))
    found = list(datasets({name: cfg.get(name) for name in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')}))
    assert found
    for dataset in found:
        paths = [dataset.get('data_root') or '', dataset.get('ann_file') or '',
                 *dataset.data_prefix.values()]
        assert not [p for p in paths if '..' in p or 'shared' in p], paths
        if dataset.get('data_root'):
            assert dataset.data_root in DEFAULT_ROOTS
        else:  # split files outside the data (CamVid's): the folders carry it
            assert dataset.data_prefix.img_path.startswith(DEFAULT_ROOTS)
