"""Convert the ImageNet ResNet weights of UniMatch's layout to mmseg's ResNetV1c.

    python tools/model_converters/unimatch_resnet2mmseg.py SRC DST [--depth 101]

SRC holds the state dict of the deep-stem ResNet of UniMatch and of both CSL
releases (``model/backbone/resnet.py``), e.g. the ``resnet101.pth`` that
UniMatch's README links (docs/weights.md): keys ``conv1.<i>.*`` (the three
stem convs and their BNs), ``bn1.*``, ``layer<n>.<m>.{conv,bn}{1,2,3}.*``,
``layer<n>.0.downsample.{0,1}.*`` and ``fc.*``. A checkpoint dict that holds
it under ``state_dict`` or ``model`` is read too, and a ``module.`` prefix
(of a DataParallel model) is removed.

DST gets a plain state dict that loads with ``strict=True`` into
``mmseg.models.backbones.ResNetV1c(depth=101, stem_channels=128)``, the
backbone of ``configs/_base_/models/deeplabv3plus_r101-d8.py`` (its strides
and dilations do not change the weights). The stem ``conv1.{0,1,3,4,6}``
becomes ``stem.{0,1,3,4,6}`` and ``bn1`` becomes ``stem.7``; the residual
stages keep their names. Left out: ``fc.*``, the ImageNet classifier.

Every other key of SRC must have its place, and every tensor of the network
must be in SRC, else nothing is written and the error names the keys. BN
``num_batches_tracked`` buffers are converted where SRC has them; PyTorch
fills in the absent ones when loading.
"""
import argparse
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from mmseg.models.backbones import ResNetV1c
from mmseg.models.backbones.resnet import Bottleneck

NUM_STAGES = 4
CONV_TENSORS = ('weight', )
BN_TENSORS = ('weight', 'bias', 'running_mean', 'running_var')
BN_COUNTER = 'num_batches_tracked'
DROPPED_PREFIX = 'fc.'
DATA_PARALLEL_PREFIX = 'module.'
# The stem: reference module -> (mmseg module, kind); the ReLUs hold no tensors.
STEM = (('conv1.0', 'stem.0', 'conv'), ('conv1.1', 'stem.1', 'bn'),
        ('conv1.3', 'stem.3', 'conv'), ('conv1.4', 'stem.4', 'bn'),
        ('conv1.6', 'stem.6', 'conv'), ('bn1', 'stem.7', 'bn'))
BOTTLENECK = (('conv1', 'conv'), ('bn1', 'bn'), ('conv2', 'conv'), ('bn2', 'bn'),
              ('conv3', 'conv'), ('bn3', 'bn'))
DOWNSAMPLE = (('downsample.0', 'conv'), ('downsample.1', 'bn'))
STAGE_KEY = re.compile(r'layer(\d+)\.(\d+)\.')
# The depths of mmseg's ResNet made of Bottleneck blocks, as the reference's.
DEPTHS = tuple(depth for depth, (block, _) in ResNetV1c.arch_settings.items()
               if block is Bottleneck)


def stage_blocks(state_dict: Dict[str, torch.Tensor]) -> Tuple[int, ...]:
    """The number of Bottleneck blocks of each stage, one more than the
    highest block index of its ``layer<n>.<m>.*`` keys (a gap below it then
    shows as missing keys).

    Raises:
        ValueError: a stage has no keys at all.
    """
    highest = {}
    for key in state_dict:
        match = STAGE_KEY.match(key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            highest[stage] = max(highest.get(stage, -1), block)
    empty = [f'layer{stage}' for stage in range(1, NUM_STAGES + 1)
             if stage not in highest]
    if empty:
        raise ValueError(f'the source has no keys of {empty}: not the state dict '
                         'of a 4-stage ResNet of the reference layout')
    return tuple(highest[stage] + 1 for stage in range(1, NUM_STAGES + 1))


def modules(blocks: Tuple[int, ...]) -> Iterator[Tuple[str, str, str]]:
    """(reference module, mmseg module, ``'conv'`` or ``'bn'``) of every
    module with tensors, in the order of mmseg's state dict."""
    for source, target, kind in STEM:
        yield source, target, kind
    for stage, num_blocks in enumerate(blocks, start=1):
        for block in range(num_blocks):
            prefix = f'layer{stage}.{block}.'
            layout = BOTTLENECK + DOWNSAMPLE if block == 0 else BOTTLENECK
            for name, kind in layout:
                yield prefix + name, prefix + name, kind


def rename_map(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, str]':
    """Reference key -> mmseg key for every converted tensor, in the order of
    mmseg's state dict; ``fc.*`` is left out.

    Raises:
        ValueError: keys of SRC that have no place in the network, or tensors
            of the network that SRC lacks; the message lists them all.
    """
    renames = OrderedDict()
    missing = []
    for source, target, kind in modules(stage_blocks(state_dict)):
        tensors = CONV_TENSORS if kind == 'conv' else BN_TENSORS
        for name in tensors:
            key = f'{source}.{name}'
            if key in state_dict:
                renames[key] = f'{target}.{name}'
            else:
                missing.append(key)
        if kind == 'bn' and f'{source}.{BN_COUNTER}' in state_dict:
            renames[f'{source}.{BN_COUNTER}'] = f'{target}.{BN_COUNTER}'
    unexpected = [key for key in state_dict
                  if key not in renames and not key.startswith(DROPPED_PREFIX)]
    problems = []
    if unexpected:
        problems.append(f'unexpected keys {unexpected}')
    if missing:
        problems.append(f'missing keys {missing}')
    if problems:
        raise ValueError('not the state dict of the reference deep-stem ResNet '
                         '(UniMatch/CSL model/backbone/resnet.py): '
                         + '; '.join(problems))
    return renames


def convert(state_dict: Dict[str, torch.Tensor],
            depth: Optional[int] = None) -> 'OrderedDict[str, torch.Tensor]':
    """The mmseg ResNetV1c state dict of ``state_dict`` (tensors are the
    source's, not copies), keys in the order of mmseg's state dict.

    With ``depth`` the stages must have the blocks of mmseg's ResNet of that
    depth; without it any number of Bottleneck blocks per stage is taken.

    Raises:
        ValueError: see :func:`rename_map`; or the block counts differ from
            those of ``depth``.
    """
    if depth is not None:
        expected = ResNetV1c.arch_settings[depth][1]
        found = stage_blocks(state_dict)
        if found != tuple(expected):
            raise ValueError(f'the source has {found} blocks per stage; a '
                             f'ResNet-{depth} has {tuple(expected)}')
    return OrderedDict((target, state_dict[source])
                       for source, target in rename_map(state_dict).items())


def load_source(path: str) -> Dict[str, torch.Tensor]:
    """The state dict in ``path`` (a file of ``torch.save``): the file's
    dict itself or the one under ``state_dict`` or ``model``, with a leading
    ``module.`` removed from its keys."""
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    for wrapper in ('state_dict', 'model'):
        if isinstance(checkpoint.get(wrapper), dict):
            checkpoint = checkpoint[wrapper]
            break
    return OrderedDict(
        (key[len(DATA_PARALLEL_PREFIX):] if key.startswith(DATA_PARALLEL_PREFIX)
         else key, value) for key, value in checkpoint.items())


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='reference-layout weights, e.g. resnet101.pth')
    parser.add_argument('dst', help='output state dict for mmseg ResNetV1c')
    parser.add_argument('--depth', type=int, default=101,
                        choices=DEPTHS,
                        help='the ResNet depth the source must have (default 101)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    state_dict = load_source(args.src)
    converted = convert(state_dict, args.depth)
    dropped = [key for key in state_dict if key.startswith(DROPPED_PREFIX)]
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(converted, args.dst)
    print(f'{len(converted)} tensors written to {args.dst}; '
          f'{len(dropped)} left out: {dropped}')


if __name__ == '__main__':
    main()
