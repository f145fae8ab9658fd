import re

import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.models.weight_init import missing_weights_message

BACKBONE = dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=4,
                num_stages=2, out_indices=(0, 1), strides=(1, 2), dilations=(1, 1))


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def backbone(checkpoint: str):
    return MODELS.build(dict(BACKBONE, init_cfg=dict(
        type='UniMatchResNetPretrained', checkpoint=checkpoint)))


def random_weights() -> dict:
    torch.manual_seed(0)
    state_dict = MODELS.build(dict(BACKBONE, init_cfg=None)).state_dict()
    return {key: torch.randn_like(value) if value.is_floating_point() else value
            for key, value in state_dict.items()}


def test_the_converted_weights_are_loaded(tmp_path):
    weights = random_weights()
    torch.save(weights, tmp_path / 'weights.pth')
    model = backbone(str(tmp_path / 'weights.pth'))
    model.init_weights()
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in weights.items())


def test_a_missing_file_is_named_with_the_commands_that_make_it(tmp_path):
    missing = tmp_path / 'pretrained' / 'resnet101_mmseg.pth'
    model = backbone(str(missing))
    with pytest.raises(FileNotFoundError) as error:
        model.init_weights()
    message = str(error.value)
    assert message == missing_weights_message(str(missing))
    assert f'{missing} (resolved against' in message
    assert ('gdown 1Rx0legsMolCWENpfvE2jUScT3ogalMO8 -O '
            'work_dirs/pretrained/resnet101.pth') in message
    assert ('python tools/model_converters/unimatch_resnet2mmseg.py '
            f'work_dirs/pretrained/resnet101.pth {missing}') in message
    assert 'RESNET101_WEIGHTS' in message and 'docs/weights.md' in message


def test_a_file_of_other_keys_is_refused_by_name(tmp_path):
    weights = random_weights()
    weights['conv1.0.weight'] = weights.pop('stem.0.weight')
    torch.save(weights, tmp_path / 'unconverted.pth')
    model = backbone(str(tmp_path / 'unconverted.pth'))
    with pytest.raises(RuntimeError, match=re.escape('conv1.0.weight')) as error:
        model.init_weights()
    assert 'stem.0.weight' in str(error.value)
