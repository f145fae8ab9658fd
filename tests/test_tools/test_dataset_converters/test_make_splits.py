import importlib.util
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmseg_csl.datasets import UniMatchSplitDataset
from tests.tool_utils import TOOLS, run_tool

NUM_IMAGES = 40
COMMON_CLASSES = (1, 2, 3)
RARE_CLASSES = (4, 5, 6, 7, 8, 9)  # each in exactly one image


def load_make_splits():
    spec = importlib.util.spec_from_file_location(
        'make_splits', TOOLS / 'dataset_converters' / 'make_splits.py')
    module = importlib.util.module_from_spec(spec)
    # Registered, so that worker processes can unpickle its functions.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


make_splits = load_make_splits()


def make_dataset(root: Path) -> dict:
    """``root/img/<name>.jpg`` and ``root/ann/<name>.png``; returns the
    classes of each name. Class 0 and 255 (ignored) are in every map."""
    rng = np.random.default_rng(0)
    rare_images = dict(zip(rng.choice(NUM_IMAGES, len(RARE_CLASSES), False),
                           RARE_CLASSES))
    classes_of = {}
    for index in range(NUM_IMAGES):
        name = f'{index:03d}'
        label = np.zeros((8, 8), np.uint8)
        label[0, 0] = 255
        label[1, :] = rng.choice(COMMON_CLASSES)
        if index in rare_images:
            label[2, :] = rare_images[index]
        (root / 'img').mkdir(parents=True, exist_ok=True)
        (root / 'ann').mkdir(exist_ok=True)
        cv2.imwrite(str(root / 'img' / f'{name}.jpg'), np.zeros((8, 8, 3), np.uint8))
        cv2.imwrite(str(root / 'ann' / f'{name}.png'), label)
        classes_of[name] = set(np.unique(label).tolist()) - {255}
    return classes_of


def run(root: Path, *args: str) -> tuple:
    """Run the tool's ``main`` and return the lines of (labeled, unlabeled)."""
    out_dir = root / 'out'
    make_splits.main([str(root), '--img-dir', 'img', '--out-dir', str(out_dir),
                      *args])
    return tuple((out_dir / f'{split}.txt').read_text().splitlines()
                 for split in ('labeled', 'unlabeled'))


@pytest.mark.parametrize('total, ratios, counts', [
    (10582, ['1/16', '1/8', '1/4'], [662, 1323, 2646]),
    (2975, ['1/16', '1/8', '1/4', '1/2'], [186, 372, 744, 1488]),
    (118287, ['1/512', '1/256', '1/128', '1/64', '1/32'],
     [232, 463, 925, 1849, 3697]),
])
def test_ratios_give_the_published_counts(total, ratios, counts):
    assert [make_splits.labeled_count(total, Fraction(r))
            for r in ratios] == counts


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match=r'in \[1, 10\].*got 11'):
        make_splits.labeled_count(10, num_labeled=11)
    with pytest.raises(ValueError, match=r'ratio must be in \(0, 1\]'):
        make_splits.labeled_count(10, ratio=Fraction(3, 2))
    with pytest.raises(ValueError, match='exactly one'):
        make_splits.labeled_count(10)


def test_splits_are_disjoint_complete_exact_and_seeded(tmp_path):
    make_dataset(tmp_path)
    names = [f'{i:03d}' for i in range(NUM_IMAGES)]
    labeled, unlabeled = run(tmp_path, '--ratio', '1/16', '--seed', '3')
    assert len(labeled) == 3  # ceil(40 / 16)
    assert not set(labeled) & set(unlabeled)
    assert sorted(labeled + unlabeled) == names
    assert labeled == sorted(labeled) and unlabeled == sorted(unlabeled)
    assert run(tmp_path, '--ratio', '1/16', '--seed', '3') == (labeled, unlabeled)
    other_seeds = [run(tmp_path, '--ratio', '1/16', '--seed', str(seed))[0]
                   for seed in (4, 5)]
    assert labeled not in other_seeds
    labeled, unlabeled = run(tmp_path, '--num-labeled', '7', '--seed', '3')
    assert len(labeled) == 7 and len(unlabeled) == NUM_IMAGES - 7


def test_labeled_images_cover_every_class(tmp_path):
    classes_of = make_dataset(tmp_path)
    all_classes = {0, *COMMON_CLASSES, *RARE_CLASSES}

    def covered(labeled):
        return set().union(*(classes_of[name] for name in labeled))

    labeled, _ = run(tmp_path, '--ann-dir', 'ann', '--num-labeled', '8')
    assert len(labeled) == 8
    assert covered(labeled) == all_classes
    # The same seed without coverage misses rare classes.
    labeled, _ = run(tmp_path, '--ann-dir', 'ann', '--num-labeled', '8',
                     '--no-class-coverage')
    assert covered(labeled) != all_classes
    # Fewer labeled images than rare classes: only those are picked.
    labeled, _ = run(tmp_path, '--ann-dir', 'ann', '--num-labeled', '4',
                     '--nproc', '2')
    assert len(covered(labeled) & set(RARE_CLASSES)) == 4


def test_covering_picks_rarest_class_first():
    classes_of = {'a': frozenset({0, 1}), 'b': frozenset({0, 2}),
                  'c': frozenset({0, 1, 2}), 'd': frozenset({0, 3})}
    order = ['a', 'b', 'c', 'd']
    # 3 is the rarest, then 1 and 2 (two images each): 'a' shows 1, then 2 is
    # still missing: 'b'; 0 is covered by then.
    assert make_splits.covering_picks(order, classes_of, 10) == ['d', 'a', 'b']
    assert make_splits.covering_picks(order, classes_of, 1) == ['d']


def test_labeled_pool_and_ann_file(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / 'train.txt').write_text(
        ''.join(f'{i:03d}\n' for i in range(30)))
    (tmp_path / 'fine.txt').write_text(''.join(f'{i:03d}\n' for i in range(10)))
    labeled, unlabeled = run(tmp_path, '--ann-file', 'train.txt',
                             '--labeled-pool', 'fine.txt', '--ratio', '1/2')
    assert len(labeled) == 5
    assert set(labeled) <= {f'{i:03d}' for i in range(10)}
    assert sorted(labeled + unlabeled) == [f'{i:03d}' for i in range(30)]
    (tmp_path / 'bad_pool.txt').write_text('035\n036\n')
    with pytest.raises(ValueError, match=r"2 names .* e\.g\. \['035', '036'\]"):
        run(tmp_path, '--ann-file', 'train.txt', '--labeled-pool',
            'bad_pool.txt', '--num-labeled', '1')


def test_unimatch_format_from_the_command_line(tmp_path):
    make_dataset(tmp_path)
    output = run_tool([
        'dataset_converters/make_splits.py', tmp_path, '--img-dir', 'img',
        '--ann-dir', 'ann', '--num-labeled', '5', '--format', 'unimatch'
    ]).stdout
    assert '5 labeled, 35 unlabeled' in output
    lines = (tmp_path / 'splits/5/labeled.txt').read_text().splitlines()
    assert len(lines) == 5
    for line in lines:
        image, mask = line.split(' ')
        assert image.startswith('img/') and image.endswith('.jpg')
        assert mask == f'ann/{Path(image).stem}.png'
        assert (tmp_path / image).is_file() and (tmp_path / mask).is_file()


@pytest.mark.parametrize('split_format', ['mmseg', 'unimatch'])
def test_splits_are_read_by_unimatch_split_dataset(tmp_path, split_format):
    make_dataset(tmp_path)
    labeled, unlabeled = run(tmp_path, '--ann-dir', 'ann', '--num-labeled', '6',
                             '--format', split_format)
    for split, lines in (('labeled', labeled), ('unlabeled', unlabeled)):
        dataset = UniMatchSplitDataset(
            ann_file=f'out/{split}.txt', data_root=str(tmp_path),
            data_prefix=dict(img_path='img', seg_map_path='ann'))
        assert len(dataset) == len(lines)
        assert dataset.get_data_info(0)['seg_map_path'] == str(
            tmp_path / 'ann' / f'{Path(lines[0].split()[0]).stem}.png')
