"""The benchmark configs of ``configs/{csl,unimatch,supervised}``.

Every config is parsed with its data roots pointing at a miniature copy of its
benchmark's folders (written here: a handful of images in Pascal VOC's,
Cityscapes' and COCO's layouts, with UniMatch-format split files), and checked:
its name against its settings, its schedule against the reference code's
iteration count, its datasets (built from the miniature folders). Per family
(the benchmark base a leaf inherits; the leaves of a family differ in their
split only): the full-size model is built and predicts, training samples pass
the pipelines, a dry run trains 2 iterations and validates (with a small
backbone, on CPU), and one family resumes a run. Every config starts its
backbone from the converted reference ImageNet weights, and training without
that file stops before its first iteration. Last, configs/README.md and the
metafile list exactly the configs that exist.
"""
import copy
import math
import os
import re
import uuid
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

import cv2
import numpy as np
import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.config.utils import _get_cfg_metainfo
from mmengine.hooks import Hook
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import DATASETS, MODELS
from torch.utils.data import ConcatDataset

import mmseg_csl
from mmseg_csl.datasets.samplers import MultiSourceSampler
from mmseg_csl.datasets.samplers.multi_source_sampler import split_batch
from mmseg_csl.engine import dry_run, prepare_dry_run
from mmseg_csl.engine.cpu_distributed import replace_sync_bn
from mmseg_csl.engine.dry_run import drop_pretrained_weights, shrink_config
from mmseg_csl.engine.precision import set_precision
from tests.tool_utils import run_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / 'configs'
BENCHMARK_CONFIGS = sorted(
    path.relative_to(REPO_ROOT).as_posix()
    for folder in ('csl', 'unimatch', 'supervised')
    for path in (CONFIG_DIR / folder).glob('*.py'))
SEMI_CONFIGS = [path for path in BENCHMARK_CONFIGS if '/supervised/' not in path]
NAME = re.compile(
    r'(?P<algorithm>csl|csl-masking|unimatch|supervised)_deeplabv3plus-r101-d8_'
    r'(?P<gpus>\d+)xb(?P<batch>\d+)-(?P<epochs>\d+)e_'
    r'(?P<dataset>voc12|voc12aug|cityscapes|coco-object)-(?P<height>\d+)x(?P<width>\d+)_'
    r'(?P<split>\d+(?:-\d+)?)\.py')
FAMILY = re.compile(r"_base_ = '\.\./_base_/benchmarks/(\S+)\.py'")


class Benchmark(NamedTuple):
    """What the reference code fixes for a benchmark (docs/method.md);
    ``splits`` maps the split folder to the (labeled, unlabeled) sizes of
    UniMatch's split files."""
    root_variable: str
    metainfo_from: str
    crop: int
    epochs: int
    lr: float
    head_lr_mult: float
    splits: Dict[str, Tuple[int, int]]


BENCHMARKS = {
    'voc12': Benchmark('VOC12_ROOT', 'PascalVOCDataset', 321, 80, 0.001, 10.0, {
        '92': (92, 10490), '183': (183, 10399), '366': (366, 10216),
        '732': (732, 9850), '1464': (1464, 9118)}),
    'voc12aug': Benchmark('VOC12_ROOT', 'PascalVOCDataset', 321, 80, 0.001, 10.0, {
        '1_16': (662, 9920), '1_8': (1323, 9259), '1_4': (2646, 7936)}),
    'cityscapes': Benchmark('CITYSCAPES_ROOT', 'CityscapesDataset', 801, 240, 0.005,
                            1.0, {'1_16': (186, 2789), '1_8': (372, 2603),
                                  '1_4': (744, 2231), '1_2': (1488, 1487)}),
    'coco-object': Benchmark('COCO_ROOT', 'COCOObjectDataset', 513, 30, 0.004, 10.0, {
        '1_512': (232, 118055), '1_256': (463, 117824), '1_128': (925, 117362),
        '1_64': (1849, 116438), '1_32': (3697, 114590)}),
}
# Miniature copies: per split folder, 2 labeled and 4 unlabeled training
# images (the masks of unlabeled images are named but not written), plus 2
# validation images; all images 40x56.
NUM_LABELED, NUM_UNLABELED, NUM_VAL = 2, 4, 2
IMAGE_SIZE = (40, 56)
# A small backbone and head for the runs (R101-D8 takes minutes per iteration
# on 2 CPU cores); everything else of a config is kept.
TINY_BACKBONE = dict(depth=18, stem_channels=16, base_channels=16)
TINY_HEAD = dict(in_channels=128, channels=32, c1_in_channels=16, c1_channels=8)
RUN_SIZE = 32


def parse_name(path: str) -> re.Match:
    match = NAME.fullmatch(Path(path).name)
    assert match, f'{path} does not follow the naming scheme'
    return match


def split_folder(path: str) -> str:
    return parse_name(path)['split'].replace('-', '_')


def family_of(path: str) -> str:
    return FAMILY.search((REPO_ROOT / path).read_text()).group(1)


def family_representatives() -> List[str]:
    """The first config of each family."""
    representatives = {}
    for path in BENCHMARK_CONFIGS:
        representatives.setdefault(family_of(path), path)
    return sorted(representatives.values())


FAMILY_CONFIGS = family_representatives()
# Parameters of the reference DeepLabV3+ decoder per number of classes.
HEAD_PARAMETERS = {21: 16_844_149, 19: 16_843_635, 81: 16_859_569}
# Parameters of the reference ResNet-101 (128-channel deep stem).
BACKBONE_PARAMETERS = 42_623_936
# The converted reference ImageNet weights (docs/weights.md), unless the
# environment variable names another file.
WEIGHTS_VARIABLE = 'RESNET101_WEIGHTS'
DEFAULT_WEIGHTS = 'work_dirs/pretrained/resnet101_mmseg.pth'
# What each algorithm's semi_train_cfg sets, and whether its pipeline makes
# masked views.
SEMI_TRAINING = {
    'csl': ({'type': 'CSLSelector', 'variant': 'release'},
            ({'views': ('strong1', 'strong2'), 'source_view': 'strong1'}),
            'weak_forward', False),
    'csl-masking': ({'type': 'CSLSelector', 'variant': 'masking'},
                    {'views': ('strong1', )}, 'weak_forward', True),
    'unimatch': ({'type': 'ThresholdSelector', 'threshold': 0.95},
                 {'views': ('strong1', 'strong2')}, 'unimatch', False),
}


# ----------------------------------------------------------------------------
# miniature benchmark folders
# ----------------------------------------------------------------------------
def write_image(path: Path, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rng.integers(0, 256, (*IMAGE_SIZE, 3), np.uint8))


def write_mask(path: Path, num_classes: int, rng: np.random.Generator) -> None:
    """Class ids 0..num_classes-1, the first row ignored (255)."""
    label = rng.integers(0, num_classes, IMAGE_SIZE).astype(np.uint8)
    label[0] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), label)


def write_split(root: Path, folder: str, samples: List[Tuple[str, str]]) -> None:
    """UniMatch's split files: ``<image> <mask>`` lines, labeled ones first."""
    lines = [f'{image} {mask}\n' for image, mask in samples]
    (root / 'splits' / folder).mkdir(parents=True, exist_ok=True)
    (root / 'splits' / folder / 'labeled.txt').write_text(
        ''.join(lines[:NUM_LABELED]))
    (root / 'splits' / folder / 'unlabeled.txt').write_text(
        ''.join(lines[NUM_LABELED:]))


def write_voc(root: Path, rng: np.random.Generator) -> None:
    """JPEGImages/, SegmentationClass/ (fine masks: classic splits and
    validation), SegmentationClassAug/ (SBD masks: blended splits, as mmseg's
    voc_aug.py writes them), ImageSets/Segmentation/val.txt."""
    count = NUM_LABELED + NUM_UNLABELED + NUM_VAL
    names = [f'2007_{index:06d}' for index in range(count)]
    train, val = names[:-NUM_VAL], names[-NUM_VAL:]
    for name in names:
        write_image(root / 'JPEGImages' / f'{name}.jpg', rng)
    for name in train[:NUM_LABELED] + val:
        write_mask(root / 'SegmentationClass' / f'{name}.png', 21, rng)
    for name in train[:NUM_LABELED]:
        write_mask(root / 'SegmentationClassAug' / f'{name}.png', 21, rng)
    (root / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (root / 'ImageSets' / 'Segmentation' / 'val.txt').write_text(
        ''.join(f'{name}\n' for name in val))
    for key, mask_dir in (('voc12', 'SegmentationClass'),
                          ('voc12aug', 'SegmentationClassAug')):
        for folder in BENCHMARKS[key].splits:
            write_split(root, folder, [(f'JPEGImages/{name}.jpg',
                                        f'{mask_dir}/{name}.png') for name in train])


def write_cityscapes(root: Path, rng: np.random.Generator) -> None:
    """leftImg8bit/{train,val}/<city>/ and gtFine/{train,val}/<city>/ with
    mmseg's file suffixes (label maps of train ids)."""
    samples = []
    for index in range(NUM_LABELED + NUM_UNLABELED):
        name = f'aachen_{index:06d}_000019'
        image = f'leftImg8bit/train/aachen/{name}_leftImg8bit.png'
        mask = f'gtFine/train/aachen/{name}_gtFine_labelTrainIds.png'
        write_image(root / image, rng)
        if index < NUM_LABELED:
            write_mask(root / mask, 19, rng)
        samples.append((image, mask))
    for index in range(NUM_VAL):
        name = f'frankfurt_{index:06d}_000019'
        write_image(root / f'leftImg8bit/val/frankfurt/{name}_leftImg8bit.png', rng)
        write_mask(root / f'gtFine/val/frankfurt/{name}_gtFine_labelTrainIds.png', 19,
                   rng)
    for folder in BENCHMARKS['cityscapes'].splits:
        write_split(root, folder, samples)


def write_coco(root: Path, rng: np.random.Generator) -> None:
    """train2017/, val2017/ and masks/ (of both), as
    tools/dataset_converters/coco_object.py writes them."""
    samples = []
    for index in range(NUM_LABELED + NUM_UNLABELED):
        name = f'{index + 1:012d}'
        write_image(root / 'train2017' / f'{name}.jpg', rng)
        if index < NUM_LABELED:
            write_mask(root / 'masks' / f'{name}.png', 81, rng)
        samples.append((f'train2017/{name}.jpg', f'masks/{name}.png'))
    for index in range(NUM_VAL):
        name = f'{index + 1000:012d}'
        write_image(root / 'val2017' / f'{name}.jpg', rng)
        write_mask(root / 'masks' / f'{name}.png', 81, rng)
    for folder in BENCHMARKS['coco-object'].splits:
        write_split(root, folder, samples)


@pytest.fixture(scope='session')
def data_roots(tmp_path_factory) -> Dict[str, str]:
    """Environment variables that point the configs at the miniature folders."""
    root = tmp_path_factory.mktemp('benchmarks')
    rng = np.random.default_rng(0)
    writers = {'VOC12_ROOT': write_voc, 'CITYSCAPES_ROOT': write_cityscapes,
               'COCO_ROOT': write_coco}
    roots = {}
    for variable, write in writers.items():
        folder = root / variable.lower()
        write(folder, rng)
        roots[variable] = str(folder)
    return roots


def load(path: str, data_roots: Dict[str, str]) -> Config:
    """The config at ``path`` with its data roots set by ``data_roots``."""
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in data_roots.items():
            patch.setenv(variable, value)
        return Config.fromfile(str(REPO_ROOT / path))


@pytest.fixture(scope='session')
def configs(data_roots) -> Dict[str, Config]:
    return {path: load(path, data_roots) for path in BENCHMARK_CONFIGS}


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture
def quick_config_text(monkeypatch):
    """Runners format their config with yapf several times (log, checkpoint
    meta, dump): seconds for these configs on 2 cores. Their text is not
    under test here, so it is left unformatted."""
    monkeypatch.setattr(Config, 'pretty_text',
                        property(lambda cfg: repr(cfg.to_dict())))


@pytest.fixture
def single_thread():
    """One torch thread: on 2 shared cores, two threads for small tensors take
    several times as long."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------
# every config: name, settings, schedule, datasets
# ----------------------------------------------------------------------------
def expected_configs(dataset: str) -> set:
    """(algorithm, labeled images per GPU) of every config of each split:
    the four methods, and on Pascal the CSL release's own schedule too."""
    expected = {('csl', 2), ('csl-masking', 2), ('unimatch', 2), ('supervised', 4)}
    return expected | {('csl', 8)} if dataset.startswith('voc12') else expected


def test_every_benchmark_split_has_its_configs():
    names = {Path(path).name for path in BENCHMARK_CONFIGS}
    for dataset, benchmark in BENCHMARKS.items():
        for folder in benchmark.splits:
            for algorithm, batch in expected_configs(dataset):
                assert any(
                    (match := NAME.fullmatch(name)) and match['dataset'] == dataset
                    and match['split'] == folder.replace('_', '-')
                    and match['algorithm'] == algorithm and int(match['batch']) == batch
                    for name in names), f'no {algorithm} config for {dataset} {folder}'
    assert len(BENCHMARK_CONFIGS) == sum(
        len(expected_configs(dataset)) * len(benchmark.splits)
        for dataset, benchmark in BENCHMARKS.items())


@pytest.mark.parametrize('path', BENCHMARK_CONFIGS)
def test_name_matches_data_and_batch(path, configs, data_roots):
    cfg, match = configs[path], parse_name(path)
    benchmark = BENCHMARKS[match['dataset']]
    loader = cfg.train_dataloader
    folder = f'splits/{split_folder(path)}'
    assert split_folder(path) in benchmark.splits
    if match['algorithm'] == 'supervised':
        datasets = [loader.dataset]
        assert loader.batch_size == int(match['batch']) == 4
        preprocessor = cfg.model.data_preprocessor
    else:
        datasets = loader.dataset.datasets
        assert [dataset.ann_file for dataset in datasets] == [
            f'{folder}/labeled.txt', f'{folder}/unlabeled.txt']
        assert datasets[1].labeled is False
        sampler = loader.sampler
        assert sampler.batch_size == loader.batch_size
        assert split_batch(loader.batch_size, sampler.source_ratio) == [
            int(match['batch']), 2 * int(match['batch'])]
        assert sampler.epoch_source == 1, 'epochs are passes over the unlabeled set'
        preprocessor = cfg.model.data_preprocessor.data_preprocessor
    assert datasets[0].ann_file == f'{folder}/labeled.txt'
    for dataset in datasets:
        assert dataset.data_root == data_roots[benchmark.root_variable]
        assert dataset.metainfo_from == benchmark.metainfo_from
    crop = (int(match['height']), int(match['width']))
    assert crop == (benchmark.crop, benchmark.crop)
    crops = [transform.crop_size for transform in datasets[0].pipeline
             if transform.type == 'RandomCrop']
    assert crops == [crop] and tuple(preprocessor.size) == crop
    assert cfg.auto_scale_lr.base_batch_size == int(match['gpus']) * loader.batch_size


def has_masked_view(node) -> bool:
    """Whether a pipeline (nested dicts and lists) marks a masked view."""
    if isinstance(node, dict):
        return (node.get('type') == 'AddMetaInfo' and node.get('masked_view') is True
                or any(has_masked_view(value) for value in node.values()))
    if isinstance(node, (list, tuple)):
        return any(has_masked_view(value) for value in node)
    return False


@pytest.mark.parametrize('path', BENCHMARK_CONFIGS)
def test_name_matches_algorithm_and_optimisation(path, configs):
    cfg, match = configs[path], parse_name(path)
    benchmark = BENCHMARKS[match['dataset']]
    algorithm = match['algorithm']
    hooks = [hook.type for hook in cfg.custom_hooks]
    assert 'ClassCountCheckHook' in hooks
    if algorithm == 'supervised':
        assert cfg.model.type == segmentor_cfg(cfg.model).type
        assert cfg.train_cfg.max_epochs == int(match['epochs']) == benchmark.epochs
    else:
        semi = cfg.model.semi_train_cfg
        assert cfg.model.type == 'SemiSegmentor'
        assert {'CSLSelectorHook', 'IterationSeedHook'} <= set(hooks)
        assert cfg.train_cfg.max_epochs == 2 * int(match['epochs'])
        assert int(match['epochs']) == benchmark.epochs
        strong2 = cfg.train_dataloader.dataset.datasets[1].pipeline[-1].unsup_strong2
        selector, cutmix, bn_running_stats, masked = copy.deepcopy(
            SEMI_TRAINING[algorithm])
        if algorithm == 'unimatch' and match['dataset'] == 'cityscapes':
            selector['threshold'] = 0.0  # UniMatch's released Cityscapes setting
        cutmix_cfg = {key: tuple(value) if key == 'views' else value
                      for key, value in semi.cutmix.items()}
        assert (semi.selector.to_dict(), cutmix_cfg,
                semi.bn_running_stats) == (selector, cutmix, bn_running_stats)
        assert has_masked_view(strong2) == masked
    loss = segmentor_cfg(cfg.model).decode_head.loss_decode
    if match['dataset'] == 'cityscapes':
        assert (loss.type, loss.thresh, loss.min_kept) == (
            'BatchOhemCrossEntropyLoss', 0.7, 200000)
    else:
        assert (loss.type, loss.avg_non_ignore) == ('CrossEntropyLoss', True)
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    # bfloat16 mixed precision, as both released versions of CSL train
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype,
            cfg.optim_wrapper.loss_scale) == ('AmpOptimWrapper', 'bfloat16', 1.0)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', benchmark.lr, 0.9, 1e-4)
    keys = cfg.optim_wrapper.get('paramwise_cfg', {}).get('custom_keys', {})
    assert keys.get('decode_head', {}).get('lr_mult', 1.0) == benchmark.head_lr_mult
    [poly] = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min) == ('PolyLR', 0.9, 0.0)


@pytest.mark.parametrize('path', BENCHMARK_CONFIGS)
def test_evaluation_is_the_reference_codes(path, configs):
    """Cityscapes: the reference code's sliding windows (801 px, 534 apart,
    cut at the edges); the other benchmarks: the whole image."""
    segmentor = segmentor_cfg(configs[path].model)
    if parse_name(path)['dataset'] == 'cityscapes':
        assert segmentor.type == 'SlideCutEncoderDecoder'
        assert segmentor.test_cfg.to_dict() == dict(
            mode='slide_cut', crop_size=(801, 801), stride=(534, 534))
    else:
        assert segmentor.type == 'EncoderDecoder'
        assert segmentor.test_cfg.to_dict() == dict(mode='whole')


@pytest.mark.parametrize('path', SEMI_CONFIGS)
def test_schedule_gives_the_reference_iterations(path, configs, monkeypatch):
    """Loop epochs x MultiSourceSampler's batches per epoch on the GPUs of the
    name, against the reference code's epochs x floor(ceil(N_u / GPUs) / B):
    equal to within one iteration per loop epoch."""
    cfg, match = configs[path], parse_name(path)
    labeled, unlabeled = BENCHMARKS[match['dataset']].splits[split_folder(path)]
    gpus, batch, epochs = (int(match[key]) for key in ('gpus', 'batch', 'epochs'))
    monkeypatch.setattr(
        'mmseg_csl.datasets.samplers.multi_source_sampler.get_dist_info',
        lambda: (0, gpus))
    sampler_cfg = dict(cfg.train_dataloader.sampler)
    sampler_cfg.pop('type')
    sampler = MultiSourceSampler(
        ConcatDataset([range(labeled), range(unlabeled)]), seed=0, **sampler_cfg)
    iterations = cfg.train_cfg.max_epochs * len(sampler) // sampler.batch_size
    reference = epochs * math.floor(math.ceil(unlabeled / gpus) / batch)
    assert 0 <= iterations - reference <= cfg.train_cfg.max_epochs


def build_dataset(dataset_cfg) -> object:
    return DATASETS.build(copy.deepcopy(dataset_cfg))


@pytest.mark.parametrize('path', BENCHMARK_CONFIGS)
def test_datasets_build_on_the_benchmark_layout(path, configs):
    cfg = configs[path]
    train = build_dataset(cfg.train_dataloader.dataset)
    if '/supervised/' in path:
        assert len(train) == NUM_LABELED
    else:
        assert [len(source) for source in train.datasets] == [NUM_LABELED,
                                                               NUM_UNLABELED]
    num_classes = len(train.metainfo['classes'])
    for loader in ('val_dataloader', 'test_dataloader'):
        dataset = build_dataset(cfg[loader].dataset)
        assert len(dataset) == NUM_VAL
        assert len(dataset.metainfo['classes']) == num_classes


# ----------------------------------------------------------------------------
# one config per family: the leaves of a family differ in their split only
# ----------------------------------------------------------------------------
def without_split(cfg: Config) -> str:
    """The config as text without its split: the split files and the
    ``split`` variable."""
    text = re.sub(r"'ann_file': 'splits/[^']*'", '', repr(cfg.to_dict()))
    return re.sub(r"'split': '[^']*'", '', text)


@pytest.mark.parametrize('representative', FAMILY_CONFIGS)
def test_leaves_of_a_family_differ_in_their_split_only(representative, configs):
    family = family_of(representative)
    members = [path for path in BENCHMARK_CONFIGS if family_of(path) == family]
    for path in members:
        assert without_split(configs[path]) == without_split(configs[representative])


def segmentor_cfg(model_cfg):
    return model_cfg.segmentor if model_cfg.type == 'SemiSegmentor' else model_cfg


@pytest.mark.parametrize('path', FAMILY_CONFIGS)
def test_model_builds_and_predicts(path, configs, single_thread):
    """The full-size model, without pretrained weights, SyncBN as BN."""
    cfg = configs[path]
    model_cfg = copy.deepcopy(cfg.model)
    drop_pretrained_weights(model_cfg)
    replace_sync_bn(model_cfg)
    model = MODELS.build(model_cfg).eval()
    classes = DATASETS.get(BENCHMARKS[parse_name(path)['dataset']].metainfo_from
                           ).METAINFO['classes']
    segmentor = model.segmentor if cfg.model.type == 'SemiSegmentor' else model
    assert segmentor.decode_head.num_classes == len(classes)
    assert (type(segmentor.backbone).__name__, segmentor.backbone.depth) == (
        'ResNetV1c', 101)
    assert not segmentor.with_auxiliary_head
    head = segmentor.decode_head
    assert type(head).__name__ == 'DeepLabV3PlusHead' and head.align_corners
    assert sum(param.numel() for param in head.parameters()) == \
        HEAD_PARAMETERS[len(classes)]
    assert not any(isinstance(module, torch.nn.Dropout2d)
                   for module in model.modules()
                   if module is not getattr(model, 'feature_dropout', None))
    assert sum(param.numel() for param in segmentor.backbone.parameters()) == \
        BACKBONE_PARAMETERS

    with torch.no_grad():
        [prediction] = model.predict(torch.rand(1, 3, 33, 41))
    assert prediction.pred_sem_seg.data.shape == (1, 33, 41)
    assert prediction.seg_logits.data.shape[0] == len(classes)

    optim_cfg = Config(dict(optim_wrapper=copy.deepcopy(cfg.optim_wrapper)))
    set_precision(optim_cfg, 'float32')  # AmpOptimWrapper needs a GPU
    optim_wrapper = build_optim_wrapper(model, optim_cfg.optim_wrapper)
    lr = cfg.optim_wrapper.optimizer.lr
    head_mult = BENCHMARKS[parse_name(path)['dataset']].head_lr_mult
    parameter_lr = {
        id(param): group['lr'] for group in optim_wrapper.optimizer.param_groups
        for param in group['params']
    }
    for name, param in model.named_parameters():
        expected = lr * head_mult if 'decode_head.' in name else lr
        assert parameter_lr[id(param)] == pytest.approx(expected), name


@pytest.mark.parametrize('path', BENCHMARK_CONFIGS)
def test_backbone_starts_from_the_converted_reference_weights(path, configs):
    backbone = segmentor_cfg(configs[path].model).backbone
    assert backbone.stem_channels == 128
    assert backbone.init_cfg == dict(
        type='UniMatchResNetPretrained',
        checkpoint=os.environ.get(WEIGHTS_VARIABLE, DEFAULT_WEIGHTS))
    assert 'pretrained' not in segmentor_cfg(configs[path].model)


def test_the_weights_path_has_a_default_and_an_environment_variable(
        data_roots, monkeypatch, tmp_path):
    path = FAMILY_CONFIGS[0]
    monkeypatch.delenv(WEIGHTS_VARIABLE, raising=False)
    default = segmentor_cfg(load(path, data_roots).model).backbone.init_cfg
    assert default.checkpoint == DEFAULT_WEIGHTS
    elsewhere = str(tmp_path / 'resnet101_mmseg.pth')
    chosen = load(path, {**data_roots, WEIGHTS_VARIABLE: elsewhere})
    assert segmentor_cfg(chosen.model).backbone.init_cfg.checkpoint == elsewhere


@pytest.mark.parametrize('family', ['voc12_csl', 'voc12_supervised'])
def test_missing_weights_stop_training_before_the_first_iteration(
        family, data_roots, tmp_path, quick_config_text, single_thread):
    """The config's own init_cfg (through the environment variable) on the
    small backbone of the runs: ``Runner.train`` fails before training."""
    path = next(path for path in BENCHMARK_CONFIGS if family_of(path) == family)
    missing = tmp_path / 'pretrained' / 'resnet101_mmseg.pth'
    init_cfg = segmentor_cfg(
        load(path, {**data_roots, WEIGHTS_VARIABLE: str(missing)}).model
    ).backbone.init_cfg
    cfg = small_run_config(path, data_roots, tmp_path / 'work_dir')
    segmentor_cfg(cfg.model).backbone.init_cfg = init_cfg
    runner = Runner.from_cfg(cfg)
    recorder = StartRecorder()
    runner.register_hook(recorder)
    with pytest.raises(FileNotFoundError, match=re.escape(
            f'{missing} (resolved against')) as error:
        runner.train()
    assert 'tools/model_converters/unimatch_resnet2mmseg.py' in str(error.value)
    assert not hasattr(recorder, 'start')
    assert not list((tmp_path / 'work_dir').glob('*.pth'))


@pytest.mark.parametrize('path', FAMILY_CONFIGS)
def test_training_samples_pass_the_pipelines(path, configs):
    cfg = configs[path]
    crop = BENCHMARKS[parse_name(path)['dataset']].crop
    train = build_dataset(cfg.train_dataloader.dataset)
    if '/supervised/' in path:
        sample = train[0]
        assert sample['inputs'].shape[0] == 3
        assert max(sample['inputs'].shape[1:]) <= crop
        assert sample['data_samples'].gt_sem_seg.data.shape[1:] == \
            sample['inputs'].shape[1:]
        return
    labeled = train[0]
    assert labeled['inputs']['sup'].shape[0] == 3
    assert 'gt_sem_seg' in labeled['data_samples']['sup']
    assert labeled['inputs']['unsup_weak'] is None
    masked_views = set()
    np.random.seed(0)
    for _ in range(16):
        unlabeled = train[NUM_LABELED]
        assert unlabeled['inputs']['sup'] is None
        weak = unlabeled['inputs']['unsup_weak']
        assert max(weak.shape[1:]) <= crop
        for branch in ('unsup_strong1', 'unsup_strong2'):
            assert unlabeled['inputs'][branch].shape == weak.shape
        assert 'gt_sem_seg' not in unlabeled['data_samples']['unsup_weak']
        masked_views.add(bool(
            unlabeled['data_samples']['unsup_strong2'].metainfo.get('masked_view')))
    masking = parse_name(path)['algorithm'] == 'csl-masking'
    assert masked_views == ({False, True} if masking else {False})


def small_run_config(path: str, data_roots: Dict[str, str], work_dir: Path) -> Config:
    """The config with a small backbone and head (no pretrained weights, BN
    for SyncBN), crops of RUN_SIZE pixels, the smallest batches of its
    proportions, no worker processes, in float32 (on CPU)."""
    cfg = load(path, data_roots)
    set_precision(cfg, 'float32')
    prefix = 'model.segmentor.' if cfg.model.type == 'SemiSegmentor' else 'model.'
    cfg.merge_from_dict({f'{prefix}backbone': TINY_BACKBONE,
                         f'{prefix}decode_head': TINY_HEAD})
    drop_pretrained_weights(cfg.model)
    replace_sync_bn(cfg.model)
    shrink_config(cfg, max_side=RUN_SIZE)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'test_{uuid.uuid4().hex[:8]}'
    cfg.visualizer.pop('name', None)
    return cfg


@pytest.mark.parametrize('path', FAMILY_CONFIGS)
def test_dry_run(path, data_roots, tmp_path, quick_config_text, single_thread):
    cfg = small_run_config(path, data_roots, tmp_path / 'work_dir')
    assert prepare_dry_run(cfg, str(tmp_path / 'data'), iters=2) == (RUN_SIZE, RUN_SIZE)
    report = dry_run(cfg)

    expected_losses = {'loss', 'decode.loss_ce'} if '/supervised/' in path else {
        'loss', 'sup.decode.loss_ce', 'unsup.loss_s1', 'unsup.loss_s2', 'unsup.loss_fp'}
    assert report.losses.keys() == expected_losses
    assert all(math.isfinite(value) for value in report.losses.values())
    assert 'mIoU' in report.metrics


def test_dry_run_command_line(tmp_path):
    """tools/dry_run.py CONFIG --shrink, the check configs/README.md gives,
    on the cheapest family (with the small backbone)."""
    path = next(path for path in BENCHMARK_CONFIGS
                if family_of(path) == 'voc12_supervised')
    options = [f'model.backbone.{key}={value}' for key, value in TINY_BACKBONE.items()]
    options += [f'model.decode_head.{key}={value}' for key, value in TINY_HEAD.items()]
    options += [f'{loader}.{key}={value}'
                for loader in ('train_dataloader', 'val_dataloader')
                for key, value in (('num_workers', 0), ('persistent_workers', False))]
    result = run_tool(['dry_run.py', path, '--shrink', '--iters', '1',
                       '--work-dir', tmp_path, '--cfg-options', *options])

    assert f'Dry run of {path}: OK' in result.stdout
    assert 'data: generated 256x256 images' in result.stdout
    assert 'training: 1 iterations' in result.stdout


class StartRecorder(Hook):
    """Records the epoch and iteration a training run starts from."""

    def before_train(self, runner) -> None:
        self.start = (runner.epoch, runner.iter)


def test_resume_continues_with_the_next_epoch(data_roots, tmp_path, quick_config_text,
                                              single_thread):
    """A CSL config on the miniature VOC folders, its own datasets and loop:
    one epoch, then --resume to two epochs (1 iteration each: 4 unlabeled
    images, 4 per batch)."""
    path = next(path for path in BENCHMARK_CONFIGS if family_of(path) == 'voc12_csl')
    runs = []
    for max_epochs, resume in ((1, False), (2, True)):
        cfg = small_run_config(path, data_roots, tmp_path / 'work_dir')
        cfg.train_cfg.update(max_epochs=max_epochs, val_interval=1)
        cfg.default_hooks.checkpoint.interval = 1
        cfg.resume = resume
        runner = Runner.from_cfg(cfg)
        recorder = StartRecorder()
        runner.register_hook(recorder)
        runner.train()
        runs.append((recorder.start, (runner.epoch, runner.iter)))

    assert runs == [((0, 0), (1, 1)), ((1, 1), (2, 2))]
    assert (tmp_path / 'work_dir' / 'epoch_2.pth').is_file()


# ----------------------------------------------------------------------------
# the table of configs/README.md and the metafile
# ----------------------------------------------------------------------------
def leaf_configs() -> List[str]:
    """Every config under configs/ that is not a base, relative to configs/."""
    return sorted(path.relative_to(CONFIG_DIR).as_posix()
                  for path in CONFIG_DIR.rglob('*.py')
                  if '_base_' not in path.relative_to(CONFIG_DIR).parts)


def test_readme_table_lists_exactly_the_configs():
    rows = [line for line in (CONFIG_DIR / 'README.md').read_text().splitlines()
            if line.startswith('| ') and '.py](' in line]
    linked = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip('|').split('|')]
        assert len(cells) == 8, f'a row of 8 columns: {row}'
        [link] = re.findall(r'\[([^]]+)\]\(([^)]+)\)', cells[3])
        assert Path(link[1]).name == link[0], row
        linked.append(link[1])
    assert len(linked) == len(set(linked)), 'a config listed twice'
    assert sorted(linked) == leaf_configs()


def test_metafile_lists_the_csl_configs():
    metafile = yaml.safe_load((CONFIG_DIR / 'csl' / 'metafile.yaml').read_text())
    listed = sorted(model['Config'] for model in metafile['Models'])
    assert listed == [path for path in BENCHMARK_CONFIGS
                      if path.startswith('configs/csl/')]
    assert all(model['In Collection'] == 'CSL' for model in metafile['Models'])
    index = yaml.safe_load((REPO_ROOT / 'model-index.yml').read_text())
    assert 'configs/csl/metafile.yaml' in index['Import']
    package = str(Path(mmseg_csl.__file__).parent)
    name = Path(listed[0]).name
    assert _get_cfg_metainfo(package, f'csl/{name}')['Config'] == listed[0]
