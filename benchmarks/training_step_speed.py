"""Time of one SemiSegmentor training iteration of two source trees, side by side.

    python benchmarks/training_step_speed.py --baseline-src DIR [--rounds 3]
        [--iters 8] [--threads 2]

The candidate (this tree) runs twice: with its default BatchNorm handling (the CSL
authors': the CutMix sources predicted in train mode) and with UniMatch's (in eval
mode, as the baseline tree of commit 8e84974 did).

``DIR`` is another checkout of this repository (e.g. ``git worktree add
/tmp/baseline <commit>``). Both trees train the same model on the same synthetic
batch: the CamVid benchmark's DeepLabV3+ on MobileNetV2 (output stride 16, its
earlier DepthwiseSeparableASPPHead, which both trees can build; no pretrained
weights), 2 labeled and 2 + 2 unlabeled images of 240x320, SGD. An iteration is
``loss``, ``backward`` and an optimiser step. The trees run in alternating
subprocesses (baseline, candidate, baseline, ...), each round a fresh process
with ``--iters`` timed iterations after two of warm-up; the report gives the
median per-iteration time of each tree over all rounds and their ratio.

The selector runs on PyTorch operations in both trees (``use_kernels=False``)
so that a tree without built kernels is not at a disadvantage.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_CLASSES = 11
SIZE = (240, 320)

SEGMENTOR = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='MobileNetV2',
        widen_factor=1.0,
        strides=(1, 2, 2, 2, 1, 1, 1),
        dilations=(1, 1, 1, 1, 1, 2, 2),
        out_indices=(1, 2, 4, 6),
        norm_cfg=dict(type='BN', requires_grad=True)),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=320,
        in_index=3,
        channels=128,
        dilations=(1, 6, 12, 18),
        c1_in_channels=24,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=NUM_CLASSES,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# The CSL release in each tree's configuration language. The baseline tree
# predicts the CutMix sources in eval mode, as the candidate's 'unimatch' running
# statistics do; the candidate's default, 'weak_forward' (the CSL authors'),
# predicts them in train mode.
SEMI_TRAIN_CFG = {
    'baseline': dict(
        selector=dict(type='CSLSelector', use_kernels=False),
        masking=dict(enabled=False)),
    'candidate': dict(
        selector=dict(type='CSLSelector', variant='release', use_kernels=False)),
    'candidate-unimatch-bn': dict(
        selector=dict(type='CSLSelector', variant='release', use_kernels=False),
        bn_running_stats='unimatch'),
}


def make_batch(seed: int = 0) -> Dict[str, dict]:
    """A preprocessed multi-branch batch: 2 labeled, 2 trained + 2 CutMix
    source unlabeled images."""
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    generator = torch.Generator().manual_seed(seed)
    height, width = SIZE

    def sample(with_label: bool) -> SegDataSample:
        data = SegDataSample(metainfo=dict(img_shape=SIZE, ori_shape=SIZE,
                                           pad_shape=SIZE))
        if with_label:
            data.gt_sem_seg = PixelData(data=torch.randint(
                0, NUM_CLASSES, (1, height, width), generator=generator))
        return data

    inputs, samples = {}, {}
    for branch, count in (('sup', 2), ('unsup_weak', 4), ('unsup_strong1', 4),
                          ('unsup_strong2', 4)):
        inputs[branch] = torch.randn(count, 3, height, width, generator=generator)
        samples[branch] = [sample(branch == 'sup') for _ in range(count)]
    return dict(inputs=inputs, data_samples=samples)


def worker(src: str, tree: str, iters: int, threads: int) -> List[float]:
    """Seconds of each timed iteration of the tree at ``src``."""
    sys.path.insert(0, src)
    import torch
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_csl
    if not mmseg_csl.__file__.startswith(os.path.abspath(src)):
        raise RuntimeError(f'imported mmseg_csl from {mmseg_csl.__file__}, '
                           f'not from {src}')
    torch.set_num_threads(threads)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='SemiSegmentor', segmentor=SEGMENTOR,
        semi_train_cfg=SEMI_TRAIN_CFG[tree],
        data_preprocessor=dict(type='BaseDataPreprocessor'))).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batch = make_batch()
    times = []
    for step in range(iters + 2):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss, _ = model.parse_losses(model.loss(**batch))
        loss.backward()
        optimizer.step()
        if step >= 2:
            times.append(time.perf_counter() - start)
    return times


def run_round(src: str, tree: str, args: argparse.Namespace) -> List[float]:
    command = [sys.executable, os.path.abspath(__file__), '--worker', tree,
               '--src', src, '--iters', str(args.iters), '--threads',
               str(args.threads)]
    env = dict(os.environ, PYTHONPATH='')
    output = subprocess.run(command, check=True, capture_output=True, text=True,
                            env=env, cwd=src).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--baseline-src', help='checkout of the baseline tree')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--iters', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--worker', choices=sorted(SEMI_TRAIN_CFG),
                        help=argparse.SUPPRESS)
    parser.add_argument('--src', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.src, args.worker, args.iters, args.threads)))
        return
    if not args.baseline_src:
        parser.error('--baseline-src is required')
    sources = {'baseline': os.path.abspath(args.baseline_src), 'candidate': ROOT,
               'candidate-unimatch-bn': ROOT}
    times = {tree: [] for tree in sources}
    for round_index in range(args.rounds):
        for tree, src in sources.items():
            times[tree].extend(run_round(src, tree, args))
            print(f'round {round_index + 1}: {tree} median '
                  f'{statistics.median(times[tree][-args.iters:]):.3f} s/iter',
                  flush=True)
    medians = {tree: statistics.median(values) for tree, values in times.items()}
    print(f'\n2 labeled + 2 + 2 unlabeled images, {SIZE[0]}x{SIZE[1]}, '
          f'{args.threads} threads, {args.rounds} rounds x {args.iters} iterations')
    for tree, src in sources.items():
        print(f'  {tree:21s} {medians[tree]:.3f} s/iter (median)  {src}')
    for tree in list(sources)[1:]:
        print(f'  {tree} / baseline  {medians[tree] / medians["baseline"]:.3f}x')


if __name__ == '__main__':
    main()
