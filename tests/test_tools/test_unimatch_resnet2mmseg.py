import copy
from collections import OrderedDict
from typing import List, Optional, Sequence

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmseg.models.backbones import ResNetV1c
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.engine.cpu_distributed import replace_sync_bn
from tests.tool_utils import REPO_ROOT, load_tool, randomize_batch_norms

PAPER_MODEL = REPO_ROOT / 'configs' / '_base_' / 'models' / 'deeplabv3plus_r101-d8.py'
NARROW = 4  # planes of the first stage; the reference's are 64


tool = load_tool('model_converters/unimatch_resnet2mmseg')


class Bottleneck(nn.Module):
    """1x1 - 3x3 (the stride, the dilation) - 1x1 and a residual, each conv
    followed by BN; ``downsample`` projects the residual."""

    def __init__(self, in_channels: int, planes: int, stride: int, dilation: int,
                 downsample: Optional[nn.Module]):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out)).relu()
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return (out + residual).relu()


class ReferenceLayoutResNet(nn.Module):
    """The deep-stem ResNet of UniMatch's and CSL's ``resnet.py`` at output
    stride 8, in its module names, with ``width`` planes in the first stage
    (``2 * width`` stem channels) and ``blocks`` per stage. A dilated stage
    gives its first block the dilation the previous stage ended with. BN
    parameters, statistics and counters are random, so that a tensor loaded
    into the wrong place changes the output."""

    def __init__(self, blocks: Sequence[int], width: int = NARROW):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 1, 1, bias=False))
        self.bn1 = nn.BatchNorm2d(2 * width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels, dilation = 2 * width, 1
        for stage, (num_blocks, dilate) in enumerate(
                zip(blocks, (False, False, True, True))):
            planes = width * 2**stage
            stride = 1 if stage == 0 else 2
            first_dilation = dilation
            if dilate:
                dilation *= stride
                stride = 1
            downsample = nn.Sequential(
                nn.Conv2d(channels, 4 * planes, 1, stride, bias=False),
                nn.BatchNorm2d(4 * planes))
            layer = [Bottleneck(channels, planes, stride, first_dilation, downsample)]
            layer += [Bottleneck(4 * planes, planes, 1, dilation, None)
                      for _ in range(num_blocks - 1)]
            setattr(self, f'layer{stage + 1}', nn.Sequential(*layer))
            channels = 4 * planes
        self.fc = nn.Linear(channels, 10)
        randomize_batch_norms(self)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.num_batches_tracked.fill_(int(torch.randint(1, 1000, ())))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.maxpool(self.bn1(self.conv1(x)).relu())
        outs = []
        for stage in range(1, 5):
            x = getattr(self, f'layer{stage}')(x)
            outs.append(x)
        return outs


def mmseg_backbone(depth: int, width: int = NARROW) -> ResNetV1c:
    """mmseg's ResNetV1c as the paper configs set it, ``width`` wide."""
    return ResNetV1c(depth=depth, stem_channels=2 * width, base_channels=width,
                     dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                     contract_dilation=True, style='pytorch',
                     out_indices=(0, 1, 2, 3), init_cfg=None)


def reference(depth: int, width: int = NARROW) -> ReferenceLayoutResNet:
    torch.manual_seed(depth)
    return ReferenceLayoutResNet(ResNetV1c.arch_settings[depth][1], width).eval()


@pytest.fixture(scope='module')
def source() -> ReferenceLayoutResNet:
    return reference(50)


def test_converted_backbone_loads_strictly_and_computes_the_same(source):
    backbone = mmseg_backbone(50)
    backbone.load_state_dict(tool.convert(source.state_dict()), strict=True)
    backbone.eval()
    images = torch.randn(2, 3, 37, 45, dtype=torch.float64)
    with torch.no_grad():
        expected = source.double()(images)
        outputs = backbone.double()(images)
    source.float()
    assert len(outputs) == len(expected) == 4
    for output, reference_output in zip(outputs, expected):
        assert output.shape == reference_output.shape
        assert torch.allclose(output, reference_output, atol=1e-5, rtol=0)


def test_every_key_is_mapped_and_none_is_lost_or_invented(source):
    state_dict = source.state_dict()
    converted = tool.convert(state_dict)
    assert list(converted) == list(mmseg_backbone(50).state_dict())
    fc = [key for key in state_dict if key.startswith('fc.')]
    assert fc == ['fc.weight', 'fc.bias']
    assert len(converted) == len(state_dict) - len(fc)
    assert {id(value) for value in converted.values()} == {
        id(value) for key, value in state_dict.items() if key not in fc}


@pytest.mark.parametrize('source_key, target_key', [
    ('conv1.0.weight', 'stem.0.weight'),
    ('conv1.1.running_mean', 'stem.1.running_mean'),
    ('conv1.4.num_batches_tracked', 'stem.4.num_batches_tracked'),
    ('conv1.6.weight', 'stem.6.weight'),
    ('bn1.running_var', 'stem.7.running_var'),
    ('layer1.0.downsample.0.weight', 'layer1.0.downsample.0.weight'),
    ('layer3.5.bn2.bias', 'layer3.5.bn2.bias'),
    ('layer4.0.downsample.1.num_batches_tracked',
     'layer4.0.downsample.1.num_batches_tracked'),
])
def test_known_keys_map_to_their_mmseg_names(source, source_key, target_key):
    state_dict = source.state_dict()
    assert tool.convert(state_dict)[target_key] is state_dict[source_key]


def test_weights_without_batch_counters_load_strictly(source, tmp_path):
    state_dict = OrderedDict((key, value) for key, value in source.state_dict().items()
                             if not key.endswith('num_batches_tracked'))
    converted = tool.convert(state_dict)
    assert not [key for key in converted if key.endswith('num_batches_tracked')]
    torch.save(converted, tmp_path / 'converted.pth')
    saved = torch.load(tmp_path / 'converted.pth', weights_only=True)
    mmseg_backbone(50).load_state_dict(saved, strict=True)


def without(state_dict: dict, *keys: str) -> dict:
    return {key: value for key, value in state_dict.items() if key not in keys}


@pytest.mark.parametrize('damage, message', [
    (lambda sd: {**sd, 'layer2.0.se.weight': torch.zeros(1)},
     r"unexpected keys \['layer2.0.se.weight'\]"),
    (lambda sd: {**sd, 'stem.0.weight': torch.zeros(1)},
     r"unexpected keys \['stem.0.weight'\]"),
    (lambda sd: {**sd, 'layer1.0.downsample.2.weight': torch.zeros(1)},
     r"unexpected keys \['layer1.0.downsample.2.weight'\]"),
    (lambda sd: without(sd, 'bn1.weight', 'layer3.1.conv2.weight'),
     r"missing keys \['bn1.weight', 'layer3.1.conv2.weight'\]"),
    (lambda sd: without(sd, *[key for key in sd if key.startswith('layer2.1.')]),
     r"missing keys \['layer2.1.conv1.weight', 'layer2.1.bn1.weight'"),
    (lambda sd: without(sd, *[key for key in sd if key.startswith('layer4.')]),
     r"no keys of \['layer4'\]"),
])
def test_bad_input_is_refused_by_name(source, damage, message):
    with pytest.raises(ValueError, match=message):
        tool.convert(damage(source.state_dict()))


def test_a_depth_is_checked_when_given(source):
    assert len(tool.convert(source.state_dict(), depth=50)) > 0
    with pytest.raises(ValueError, match=r'\(3, 4, 6, 3\) blocks per stage; a '
                       r'ResNet-101 has \(3, 4, 23, 3\)'):
        tool.convert(source.state_dict(), depth=101)


@pytest.mark.parametrize('wrapper', ['state_dict', 'model', None])
def test_main_reads_a_checkpoint_and_writes_a_strict_state_dict(
        tmp_path, capsys, wrapper):
    state_dict = reference(101).state_dict()
    saved = OrderedDict((f'module.{key}', value) for key, value in state_dict.items())
    source_path = tmp_path / 'resnet101.pth'
    torch.save({wrapper: saved, 'epoch': 90} if wrapper else saved, source_path)
    destination = tmp_path / 'out' / 'resnet101_mmseg.pth'
    tool.main([str(source_path), str(destination)])

    converted = torch.load(destination, map_location='cpu', weights_only=True)
    mmseg_backbone(101).load_state_dict(converted, strict=True)
    expected = tool.convert(state_dict)
    assert list(converted) == list(expected)
    assert all(torch.equal(converted[key], expected[key]) for key in expected)
    output = capsys.readouterr().out
    assert f'{len(expected)} tensors written' in output
    assert "left out: ['fc.weight', 'fc.bias']" in output


def test_full_size_weights_load_strictly_into_the_paper_backbone():
    """A ResNet-101 of the reference's widths, converted, into the backbone
    built from the paper configs' model base."""
    backbone_cfg = copy.deepcopy(Config.fromfile(str(PAPER_MODEL)).model.backbone)
    backbone_cfg.init_cfg = None
    replace_sync_bn(backbone_cfg)
    backbone = MODELS.build(backbone_cfg)
    full_size = ReferenceLayoutResNet((3, 4, 23, 3), width=64)
    backbone.load_state_dict(tool.convert(full_size.state_dict(), depth=101),
                             strict=True)
