"""Would CSL select pseudo-labels better than a confidence threshold on my model
and data? The selection quality of a trained model, without training.

    python tools/analysis_tools/selection_quality.py CONFIG CHECKPOINT
        [--selectors csl csl-masking 0.8 0.9 0.95 0.99] [--out DIR]
        [--split test|val|train] [--ann-file LIST] [--images N]
        [--cfg-options KEY=VALUE ...]

CONFIG is any mmseg config of the model (a plain segmentor or SemiSegmentor) whose
dataloaders name a labeled dataset; CHECKPOINT its weights, plain or SemiSegmentor
(a SemiSegmentor checkpoint loads into a plain config: its ``segmentor.`` weights),
which must fit the model exactly: a checkpoint of another model or num_classes
stops the tool with the weights that differ.
The frames of ``--split`` (the dataset of test_dataloader, val_dataloader, or the
labeled dataset of train_dataloader, always with the test pipeline; ``--ann-file``
replaces the dataset's list of frames, e.g. an unlabeled split whose ground truth
training never reads) are predicted whole, ``--images`` of them evenly spaced
(default: all), with a progress bar.

Selectors: ``csl`` (the CSL release), ``csl-masking`` (the masking version), or a
number, a fixed threshold on the maximum confidence. Written to DIR
(default ``work_dirs/selection_quality``): ``selection_quality.json`` and ``.md``
(mmseg_csl/analysis/selection_quality.py: coverage, precision, recall of every
rule; AUROC of each CSL weight and of the max confidence; the threshold rule's
precision at each CSL version's coverage), ``curves.png`` (precision against
coverage of every threshold, each rule a point) and, per CSL version,
``scatter_<version>.png`` (the middle frame's pixels in max confidence and scaled
residual variance, correct and incorrect, CSL's boundary: the paper's Figure 1).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

import cv2
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.registry import DATASETS, MODELS, TASK_UTILS

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mmseg_csl  # noqa: E402,F401  (registers the package's components)
from mmseg_csl.analysis.selection_quality import (  # noqa: E402
    CSL_NAMES,
    CSL_SELECTORS,
    DEFAULT_SELECTORS,
    collect_pixels,
    parse_selectors,
    plot_curves,
    selection_quality,
)
from mmseg_csl.engine import load_checkpoint_exactly  # noqa: E402
from mmseg_csl.utils import markdown_table, number  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index('CONFIG is'):])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--selectors', nargs='+', default=list(DEFAULT_SELECTORS),
                        help='csl, csl-masking or thresholds (default: '
                        f'{" ".join(DEFAULT_SELECTORS)})')
    parser.add_argument('--out', default='work_dirs/selection_quality',
                        help='output folder')
    parser.add_argument('--split', choices=('test', 'val', 'train'), default='test',
                        help='whose dataset (default test)')
    parser.add_argument('--ann-file', help="replaces the dataset's list of frames")
    parser.add_argument('--images', type=int,
                        help='evenly spaced frames (default: all)')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    try:
        args.versions, args.thresholds = parse_selectors(args.selectors)
    except ValueError as error:
        parser.error(str(error))
    if args.images is not None and args.images < 1:
        parser.error('--images must be at least 1')
    return args


def dataset_config(cfg: Config, split: str, ann_file: Optional[str]) -> dict:
    """The labeled dataset of ``split`` with the test pipeline."""
    if split == 'train':
        dataset = cfg.train_dataloader.dataset
        if 'datasets' in dataset:  # semi-supervised: [labeled, unlabeled]
            dataset = dataset.datasets[0]
    else:
        dataset = cfg[f'{split}_dataloader'].dataset
    dataset = dataset.copy()
    dataset.pipeline = cfg.test_dataloader.dataset.pipeline
    dataset.pop('indices', None)
    if ann_file:
        dataset.ann_file = osp.abspath(ann_file)
    return dataset


def build_model(cfg: Config, checkpoint: str):
    """The config's model in eval mode with ``checkpoint``'s weights, which
    must fit it exactly (``mmseg_csl.engine.load_checkpoint_exactly``); a plain
    config takes a SemiSegmentor checkpoint's ``segmentor.`` weights."""
    model = MODELS.build(cfg.model)
    load_checkpoint_exactly(model, checkpoint)
    return model.eval()


def markdown(quality: dict, title: str) -> str:
    """The report: one table of rules, one of the CSL versions."""
    lines = [f'# {title}', '',
             f'{quality["pixels"]} annotated pixels of {quality["images"]} frames; '
             f'pseudo-label accuracy {number(quality["pseudo_label_accuracy"], 4)}; '
             'AUROC of the max confidence '
             f'{number(quality["auroc_max_confidence"], 4)}.', '',
             markdown_table(['rule', 'coverage', 'precision', 'recall'], [
                 [name] + [number(stats[key], 4)
                           for key in ('coverage', 'precision', 'recall')]
                 for name, stats in quality['rules'].items()])]
    if quality['csl']:
        lines += ['', markdown_table(
            ['CSL version', 'coverage', 'precision',
             'threshold precision at that coverage', 'AUROC of the weight'],
            [[CSL_NAMES[version]] + [number(stats[key], 4) for key in (
                'coverage', 'precision', 'threshold_precision_at_coverage',
                'auroc_weight')] for version, stats in quality['csl'].items()])]
    return '\n'.join(lines) + '\n'


def progress(items, count: int):
    """``items``, with mmengine's progress bar over ``count`` of them."""
    bar = ProgressBar(count)
    for item in items:
        yield item
        bar.update()


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = build_model(cfg, args.checkpoint)
    dataset = DATASETS.build(dataset_config(cfg, args.split, args.ann_file))
    count = len(dataset) if args.images is None else args.images
    if count > len(dataset):
        raise SystemExit(f'--images {count} exceeds the {len(dataset)} frames')
    indices = np.linspace(0, len(dataset) - 1, count).round().astype(int)
    frames = (dataset[int(i)] for i in indices)
    selectors = {v: TASK_UTILS.build(CSL_SELECTORS[v]) for v in args.versions}
    conf, correct, weights, records = collect_pixels(
        model, selectors, frames if args.no_progress else progress(frames, count),
        plot_frame=count // 2)
    quality = dict(selection_quality(conf, correct, weights, args.thresholds),
                   images=count, checkpoint=osp.abspath(args.checkpoint),
                   config=osp.abspath(args.config), split=args.split,
                   ann_file=args.ann_file)
    os.makedirs(args.out, exist_ok=True)
    title = f'Selection quality of {osp.basename(args.checkpoint)}'
    with open(osp.join(args.out, 'selection_quality.json'), 'w') as f:
        json.dump(quality, f, indent=1)
    with open(osp.join(args.out, 'selection_quality.md'), 'w') as f:
        f.write(markdown(quality, title))
    plot_curves(conf, correct, quality, osp.join(args.out, 'curves.png'), title)
    if records:
        from mmseg_csl.engine.hooks.csl_selector_hook import plot_selection
        for version, record in records.items():
            image = plot_selection(record, max_points=20000)
            cv2.imwrite(osp.join(args.out, f'scatter_{version}.png'), image[..., ::-1])
    print(markdown(quality, title), flush=True)
    return quality


if __name__ == '__main__':
    main()
