import json
import re

import numpy as np

from mmseg_csl.datasets.synthetic_shapes import (
    SHAPES_METAINFO,
    draw_shapes_sample,
    write_shapes_dataset,
)
from tests.tool_utils import run_tool


def test_demo_trains_both_models_and_prints_the_table(tmp_path):
    work_dir = tmp_path / 'demo'
    result = run_tool([
        'demo.py', '--work-dir', work_dir, '--iters', '3', '--num-labeled', '4',
        '--num-unlabeled', '8', '--num-val', '4'
    ], timeout=300)
    rows = re.findall(r'^\| (supervised-only|CSL) \| ([\d.]+) \|', result.stdout,
                      flags=re.MULTILINE)
    assert [name for name, _ in rows] == ['supervised-only', 'CSL']
    results = json.loads((work_dir / 'results.json').read_text())
    for name, miou in rows:
        assert abs(results[name]['mIoU'] - float(miou)) < 0.01
        assert 0 <= float(miou) <= 100
    assert (work_dir / 'curves.png').stat().st_size > 0
    for run in ('supervised', 'csl'):
        assert (work_dir / run / 'iter_3.pth').exists()
    assert list((work_dir / 'csl').glob('*/vis_data/vis_image/csl_selection_3.png'))
    # a second run reuses the dataset written by the first
    stamp = (work_dir / 'shapes' / 'img_dir' / 'train' / '00000.png').stat().st_mtime
    run_tool(['demo.py', '--work-dir', work_dir, '--iters', '1', '--num-labeled',
              '4', '--num-unlabeled', '8', '--num-val', '4'], timeout=300)
    assert (work_dir / 'shapes' / 'img_dir' / 'train' /
            '00000.png').stat().st_mtime == stamp


def test_shapes_are_deterministic_and_labelled_by_class(tmp_path):
    image, label = draw_shapes_sample(np.random.default_rng(3), (48, 40))
    again, label_again = draw_shapes_sample(np.random.default_rng(3), (48, 40))
    assert image.shape == (48, 40, 3) and image.dtype == np.uint8
    assert np.array_equal(image, again) and np.array_equal(label, label_again)
    assert set(np.unique(label)) <= set(range(len(SHAPES_METAINFO['classes'])))
    assert (label > 0).any() and (label == 0).any()
    write_shapes_dataset(str(tmp_path), dict(train=3, val=2), size=(32, 32))
    assert len(list((tmp_path / 'img_dir' / 'train').glob('*.png'))) == 3
    assert len(list((tmp_path / 'ann_dir' / 'val').glob('*.png'))) == 2
