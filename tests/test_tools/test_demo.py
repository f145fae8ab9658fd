import importlib.util
import json
import re

import numpy as np

from mmseg_csl.datasets.synthetic_shapes import (
    SHAPES_METAINFO,
    draw_shapes_sample,
    write_shapes_dataset,
)
from tests.tool_utils import REPO_ROOT, run_tool

SMOKE = ['--warm-start-iters', '2', '--iters', '2', '--num-labeled', '4',
         '--num-unlabeled', '8', '--num-val', '4']
CLASSES = list(SHAPES_METAINFO['classes'])
# Table row: name | mIoU (± sd) | per-seed mIoU | per-class IoU | wall time
ROW = re.compile(r'^\| ([^|]+) \| ([\d.]+)(?: ± ([\d.]+))? \| ([\d. /]+) \| '
                 r'((?:[\d.]+ \| ){4})(\d+) s( \(reused\))? \|$', re.MULTILINE)


def load_demo():
    spec = importlib.util.spec_from_file_location('demo',
                                                  REPO_ROOT / 'tools' / 'demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table(stdout: str) -> dict:
    """Row name -> (mIoU, sd, per-seed values, class IoUs, reused)."""
    return {name: (float(miou), sd and float(sd),
                   [float(v) for v in seeds.split(' / ')],
                   [float(v) for v in classes.split(' | ') if v.strip()],
                   bool(reused))
            for name, miou, sd, seeds, classes, _, reused in ROW.findall(stdout)}


def test_demo_warm_starts_then_continues_three_ways(tmp_path):
    work_dir = tmp_path / 'demo'
    result = run_tool(['demo.py', '--work-dir', work_dir, '--seeds', '0', '1',
                       *SMOKE], timeout=600)

    assert ('| model | mIoU | mIoU per seed | ' + ' | '.join(CLASSES) +
            ' | wall time |') in result.stdout
    rows = table(result.stdout)
    methods = ['supervised', 'unimatch', 'csl']
    assert list(rows) == ['warm start: supervised-only, 2 it',
                          '+ 2 it supervised-only',
                          '+ 2 it UniMatch (threshold 0.95)',
                          '+ 2 it CSL release']
    results = json.loads((work_dir / 'results.json').read_text())
    for name, method in zip(list(rows)[1:], methods):
        miou, sd, seeds, classes, reused = rows[name]
        runs = results['runs'][method]
        values = [run['mIoU'] for run in runs]
        assert np.allclose(seeds, values, atol=0.006)
        assert abs(miou - np.mean(values)) < 0.006
        assert abs(sd - np.std(values, ddof=1)) < 0.006
        assert np.allclose(classes, [np.mean([run['class_iou'][c] for run in runs])
                                     for c in CLASSES], atol=0.006)
        assert not reused
    assert 'CSL release - supervised-only, per seed: ' in result.stdout
    for image in ('curves.png', 'selection_unimatch.png', 'selection_csl.png'):
        assert (work_dir / image).stat().st_size > 0
    warm = work_dir / 'warm_start' / 'iter_2.pth'
    assert warm.exists()
    for seed in (0, 1):
        for method in methods:
            run_dir = work_dir / f'seed{seed}' / method
            assert (run_dir / 'iter_2.pth').exists()
            [log] = run_dir.glob('*/*.log')
            assert f'Load checkpoint from {warm}' in log.read_text()
            assert 'missing keys' not in log.read_text()
            assert 'unexpected key' not in log.read_text()

    # Again, with fewer iterations for one seed: the data and the warm start
    # are reused, every run that continues is retrained.
    stamp = (work_dir / 'shapes' / 'img_dir' / 'train' / '00000.png').stat().st_mtime
    again = run_tool(['demo.py', '--work-dir', work_dir, '--seeds', '0', *SMOKE,
                      '--iters', '1'], timeout=600)
    rows = table(again.stdout)
    assert [reused for *_, reused in rows.values()] == [True, False, False, False]
    assert '1 runs reused from an earlier invocation' in again.stdout
    assert (work_dir / 'shapes' / 'img_dir' / 'train' /
            '00000.png').stat().st_mtime == stamp
    assert (work_dir / 'seed0' / 'csl' / 'iter_1.pth').exists()


def test_curves_draw_every_run_also_from_few_points(tmp_path):
    demo = load_demo()

    def run(name: str, *records: dict) -> dict:
        log_dir = tmp_path / name
        (log_dir / 'vis_data').mkdir(parents=True)
        (log_dir / 'vis_data' / 'scalars.json').write_text(
            ''.join(json.dumps(record) + '\n' for record in records))
        return dict(log_dir=str(log_dir), sup_weight=0.5 if name != 'sup' else 1.0)

    semi = dict(step=1, **{'sup.decode.loss_ce': 0.3, 'csl/selected_ratio': 0.5,
                           'csl/selected_acc': 0.9})
    warm = run('warm', dict(step=1, **{'decode.loss_ce': 1.0}),
               dict(step=2, **{'decode.loss_ce': 0.8}))
    runs = dict(supervised=[run('sup', dict(step=1, **{'decode.loss_ce': 0.7}))],
                unimatch=[run('unimatch', semi)], csl=[run('csl', semi)])

    losses, selected, accuracy = demo.curves_figure(warm, runs, 2).axes
    assert len(losses.lines) == 4 and len(selected.lines) == len(accuracy.lines) == 2
    for line in losses.lines + selected.lines + accuracy.lines:
        assert line.get_marker() == 'o' and len(line.get_xdata()) >= 1
    # the continuing runs after the warm start, the loss unweighted
    assert list(losses.lines[-1].get_xdata()) == [3]
    assert list(losses.lines[-1].get_ydata()) == [0.6]


def test_changed_data_arguments_rewrite_the_data(tmp_path):
    demo = load_demo()
    root = str(tmp_path / 'shapes')
    demo.prepare_data(root, 2, 3, 4, seed=0)
    stamp = (tmp_path / 'shapes' / 'img_dir' / 'val' / '00000.png').stat().st_mtime
    demo.prepare_data(root, 2, 3, 4, seed=0)
    assert (tmp_path / 'shapes' / 'img_dir' / 'val' /
            '00000.png').stat().st_mtime == stamp
    demo.prepare_data(root, 1, 3, 2, seed=0)
    assert len(list((tmp_path / 'shapes' / 'img_dir' / 'val').glob('*.png'))) == 2
    assert (tmp_path / 'shapes' / 'splits' / 'labeled.txt').read_text() == '00000\n'
    assert (tmp_path / 'shapes' / 'splits' /
            'unlabeled.txt').read_text() == '00001\n00002\n00003\n'


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
