"""Linear probe on CamVid: converted ImageNet MobileNetV2 against random weights.

    python tools/model_converters/mobilenetv2_tv2mmseg.py SRC mobilenetv2_mmseg.pth
    python benchmarks/camvid/check_pretrained_backbone.py mobilenetv2_mmseg.pth
        [--data-root data/camvid] [--train-images 40] [--test-images 20]
        [--size 180 240] [--steps 300] [--weight-decay 1e-3] [--seed 0]

Both backbones (mmseg's MobileNetV2, eval mode, no training) see the same
images, resized to ``--size`` (H, W): evenly spaced frames of the train split
to fit the probe, of the test split to score it. The outputs of the stages at
strides 4, 8, 16 and 32 are resized bilinearly to the stride-8 grid and
concatenated (472 channels per cell), then standardised with the train
statistics; a linear classifier is fit full-batch with Adam and an L2 penalty
on the train cells whose label (nearest-resized to the grid) is not void.
Without the penalty the probe on ImageNet features overfits the few training
sequences: its test accuracy falls as the steps grow. Prints the train pixel
accuracy and the test pixel accuracy and mIoU of each backbone.
"""
import argparse
import logging
import os
import os.path as osp
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmseg.models.backbones import MobileNetV2

NUM_CLASSES = 11
IGNORE_INDEX = 255
FEATURE_STRIDE = 8
# ImageNet statistics, RGB, for images in [0, 255].
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def load_split(root: Path, split: str, count: int,
               size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """``count`` evenly spaced images of ``split``, resized to ``size`` (H, W):
    normalised images (N, 3, H, W) and label maps on the feature grid
    (N, H / 8, W / 8), long."""
    paths = sorted((root / 'img_dir' / split).glob('*.jpg'))
    if len(paths) < count:
        raise ValueError(f'{root}/img_dir/{split} holds {len(paths)} images, '
                         f'fewer than the {count} asked for')
    height, width = size
    grid = (width // FEATURE_STRIDE, height // FEATURE_STRIDE)
    images, labels = [], []
    for index in np.linspace(0, len(paths) - 1, count).round().astype(int):
        image = cv2.imread(str(paths[index]))[..., ::-1]
        images.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
        label_path = root / 'ann_dir' / split / paths[index].with_suffix('.png').name
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        labels.append(cv2.resize(label, grid, interpolation=cv2.INTER_NEAREST))
    images = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return (images - MEAN) / STD, torch.from_numpy(np.stack(labels)).long()


@torch.no_grad()
def grid_features(backbone: MobileNetV2, images: torch.Tensor) -> torch.Tensor:
    """Per-cell features (N * h * w, C) of the stride-8 grid (h, w)."""
    grid = (images.shape[2] // FEATURE_STRIDE, images.shape[3] // FEATURE_STRIDE)
    cells = []
    for image in images.split(8):
        stages = backbone(image)
        cells.append(torch.cat([
            F.interpolate(stage, grid, mode='bilinear', align_corners=False)
            for stage in stages
        ], dim=1))
    features = torch.cat(cells)
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])


def fit_probe(features: torch.Tensor, labels: torch.Tensor, steps: int,
              weight_decay: float) -> torch.nn.Linear:
    """A linear classifier fit full-batch on the labelled cells."""
    probe = torch.nn.Linear(features.shape[1], NUM_CLASSES)
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.01,
                                 weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(features), labels, ignore_index=IGNORE_INDEX).backward()
        optimizer.step()
    return probe


def scores(predictions: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    """Pixel accuracy and mIoU (over the classes present in labels or
    predictions) on the cells that are not void."""
    valid = labels != IGNORE_INDEX
    predictions, labels = predictions[valid], labels[valid]
    ious: List[float] = []
    for c in range(NUM_CLASSES):
        union = ((predictions == c) | (labels == c)).sum().item()
        if union:
            ious.append(((predictions == c) & (labels == c)).sum().item() / union)
    accuracy = (predictions == labels).float().mean().item()
    return {'pixel_acc': accuracy, 'mIoU': float(np.mean(ious))}


def probe_backbone(backbone: MobileNetV2,
                   train: Tuple[torch.Tensor, torch.Tensor],
                   test: Tuple[torch.Tensor, torch.Tensor], steps: int,
                   weight_decay: float) -> Dict[str, float]:
    """Fit the linear probe on ``train`` features; its train pixel accuracy
    and its test scores."""
    backbone.eval()
    train_features = grid_features(backbone, train[0])
    test_features = grid_features(backbone, test[0])
    mean, std = train_features.mean(0), train_features.std(0) + 1e-6
    train_features = (train_features - mean) / std
    test_features = (test_features - mean) / std
    probe = fit_probe(train_features, train[1].flatten(), steps, weight_decay)
    with torch.no_grad():
        train_scores = scores(probe(train_features).argmax(1), train[1].flatten())
        test_scores = scores(probe(test_features).argmax(1), test[1].flatten())
    return {'train_pixel_acc': train_scores['pixel_acc'],
            **{f'test_{key}': value for key, value in test_scores.items()}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='mmseg MobileNetV2 state dict '
                        '(output of tools/model_converters/mobilenetv2_tv2mmseg.py)')
    parser.add_argument('--data-root', default=os.environ.get(
        'CAMVID_ROOT', osp.join(osp.dirname(__file__), '..', '..', 'data', 'camvid')),
                        help='default: $CAMVID_ROOT, else data/camvid')
    parser.add_argument('--train-images', type=int, default=40)
    parser.add_argument('--test-images', type=int, default=20)
    parser.add_argument('--size', type=int, nargs=2, default=(180, 240),
                        metavar=('H', 'W'))
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--weight-decay', type=float, default=1e-3)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    root = Path(args.data_root)
    train = load_split(root, 'train', args.train_images, tuple(args.size))
    test = load_split(root, 'test', args.test_images, tuple(args.size))

    pretrained = MobileNetV2(init_cfg=None)
    state_dict = torch.load(args.checkpoint, map_location='cpu', weights_only=True)
    pretrained.load_state_dict(state_dict, strict=True)
    random = MobileNetV2(init_cfg=None)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # per-tensor init log
    random.init_weights()  # mmseg's default: Kaiming convs, BN weight 1

    print(f'CamVid linear probe: {args.train_images} train / {args.test_images} test '
          f'images at {args.size[0]}x{args.size[1]}, stride-{FEATURE_STRIDE} grid, '
          f'{args.steps} Adam steps, weight decay {args.weight_decay}, '
          f'seed {args.seed}')
    for name, backbone in (('converted', pretrained), ('random', random)):
        result = probe_backbone(backbone, train, test, args.steps,
                                args.weight_decay)
        print(f'{name:>9}: ' + ', '.join(f'{key} {value:.4f}'
                                          for key, value in result.items()))


if __name__ == '__main__':
    main()
