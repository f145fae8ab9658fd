"""tools/dataset_converters/camvid.py on a miniature of SegNet's CamVid folder,
and the CamVid config reading what it wrote."""
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

import mmseg_csl  # noqa: F401  (CamVidDataset)
from tests.tool_utils import REPO_ROOT, TOOLS, run_tool

HEIGHT, WIDTH = 36, 48
COUNTS = {'train': 3, 'val': 2, 'test': 1}
CONFIG = REPO_ROOT / 'configs' / '_base_' / 'datasets' / 'camvid.py'


def load_converter():
    spec = importlib.util.spec_from_file_location(
        'camvid_converter', TOOLS / 'dataset_converters' / 'camvid.py')
    module = importlib.util.module_from_spec(spec)
    # Registered, so that worker processes can unpickle its functions.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


converter = load_converter()


def write_segnet_camvid(root: Path) -> dict:
    """SegNet's layout: <split>/<name>.png frames and <split>annot/<name>.png
    labels 0-11 (11 void); returns the frames and labels written by split
    and name."""
    rng = np.random.default_rng(0)
    written = {}
    for split, count in COUNTS.items():
        (root / split).mkdir(parents=True)
        (root / f'{split}annot').mkdir()
        written[split] = {}
        for index in range(count):
            name = f'0001TP_{index:06d}'
            # smooth frames, so that JPEG keeps them close
            frame = np.kron(rng.integers(0, 256, (HEIGHT // 12, WIDTH // 12, 3)),
                            np.ones((12, 12, 1))).astype(np.uint8)
            label = rng.integers(0, 12, (HEIGHT, WIDTH)).astype(np.uint8)
            label[0, :12] = np.arange(12)  # every class and void
            cv2.imwrite(str(root / split / f'{name}.png'), frame)
            cv2.imwrite(str(root / f'{split}annot' / f'{name}.png'), label)
            written[split][name] = (frame, label)
    return written


def test_converts_and_the_config_reads_it(tmp_path, monkeypatch):
    src, out = tmp_path / 'CamVid', tmp_path / 'camvid'
    written = write_segnet_camvid(src)
    result = run_tool(['dataset_converters/camvid.py', src, '--out-dir', out,
                       '--nproc', '2'])
    assert f'train: 3 frames, val: 2 frames, test: 1 frames written to {out}' \
        in result.stdout

    for split, frames in written.items():
        assert sorted(p.name for p in (out / 'img_dir' / split).iterdir()) == \
            [f'{name}.jpg' for name in sorted(frames)]
        for name, (frame, label) in frames.items():
            jpeg = cv2.imread(str(out / 'img_dir' / split / f'{name}.jpg'))
            assert np.abs(jpeg.astype(int) - frame).mean() < 10  # JPEG, not lossless
            converted = cv2.imread(str(out / 'ann_dir' / split / f'{name}.png'),
                                   cv2.IMREAD_UNCHANGED)
            expected = np.where(label == 11, 255, label)
            np.testing.assert_array_equal(converted, expected)

    monkeypatch.setenv('CAMVID_ROOT', str(out))
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(CONFIG))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    sample = dataset[0]
    name = sorted(written['test'])[0]
    np.testing.assert_array_equal(
        sample['data_samples'].gt_sem_seg.data[0].numpy(),
        np.where(written['test'][name][1] == 11, 255, written['test'][name][1]))
    assert len(DATASETS.build(cfg.train_dataloader.dataset)) == COUNTS['train']


def test_default_output_is_the_config_default_data_root():
    assert converter.parse_args(['CamVid']).out_dir == 'data/camvid'
    assert "'{{$CAMVID_ROOT:data/camvid}}'" in CONFIG.read_text()


def test_a_frame_without_its_label_map_is_named(tmp_path):
    write_segnet_camvid(tmp_path / 'CamVid')
    (tmp_path / 'CamVid' / 'valannot' / '0001TP_000001.png').unlink()
    with pytest.raises(FileNotFoundError, match=r"1 frames of .*val have no label "
                       r"map in .*valannot, e\.g\. \['0001TP_000001\.png'\]"):
        converter.convert(str(tmp_path / 'CamVid'), str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists()  # checked before anything is written


def test_a_label_outside_the_classes_is_refused():
    label = np.array([[0, 10, 11], [12, 200, 3]], np.uint8)
    with pytest.raises(ValueError, match=r'x\.png: label values \[12, 200\] are '
                       r'not CamVid classes \(0-10, 11 = void\)'):
        converter.convert_label(label, 'x.png')
    np.testing.assert_array_equal(
        converter.convert_label(label[:1]), [[0, 10, 255]])


def test_missing_split_folder_says_what_src_must_be(tmp_path):
    with pytest.raises(FileNotFoundError, match='the CamVid folder of the SegNet '
                       'tutorial, with train/ and trainannot/'):
        converter.convert(str(tmp_path), str(tmp_path / 'out'), splits=['train'])
