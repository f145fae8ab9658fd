from collections import OrderedDict

import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmseg_csl.engine import (
    CheckpointMismatchError,
    IncompleteCheckpointError,
    fit_checkpoint,
    load_checkpoint_exactly,
)
from tests.semi_utils import semi_segmentor_cfg, tiny_segmentor_cfg


def build(cfg):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(cfg)


def plain_state(seed: int = 1) -> OrderedDict:
    torch.manual_seed(seed)
    model = MODELS.build(tiny_segmentor_cfg())
    for param in model.parameters():
        param.data.normal_()
    return model.state_dict()


def test_a_plain_checkpoint_fills_student_and_teacher(tmp_path):
    model = build(semi_segmentor_cfg(teacher='ema'))
    state = plain_state()
    torch.save({'state_dict': state}, tmp_path / 'plain.pth')

    _, note = load_checkpoint_exactly(model, str(tmp_path / 'plain.pth'))

    assert note == "a plain segmentor's weights, loaded into SemiSegmentor's " \
        'student and teacher'
    for key, value in state.items():
        assert torch.equal(model.segmentor.state_dict()[key], value), key
        assert torch.equal(model.teacher.state_dict()[key], value), key


def test_a_semi_checkpoint_gives_a_plain_model_its_student():
    model = build(tiny_segmentor_cfg())
    state = plain_state()
    checkpoint = {'state_dict': OrderedDict(
        [*((f'module.segmentor.{key}', value) for key, value in state.items()),
         *((f'module.teacher.{key}', value + 1) for key, value in state.items())])}

    note = fit_checkpoint(model, checkpoint, 'semi.pth')

    assert note.startswith("SemiSegmentor's student weights (segmentor.*)")
    assert list(checkpoint['state_dict']) == list(state)
    model.load_state_dict(checkpoint['state_dict'], strict=True)


def test_the_message_names_the_keys_and_shapes_that_differ():
    model = build(tiny_segmentor_cfg())
    state = plain_state()
    state['decode_head.conv_seg.weight'] = state['decode_head.conv_seg.weight'][:2]
    del state['auxiliary_head.conv_seg.bias']
    state['decode_head.extra.weight'] = torch.zeros(1)
    del state['backbone.stem.1.num_batches_tracked']  # not required

    with pytest.raises(CheckpointMismatchError) as error:
        fit_checkpoint(model, dict(state), 'other.pth')
    assert str(error.value) == (
        'The checkpoint other.pth does not fit the model of the config '
        '(EncoderDecoder): 1 weight(s) of another shape: '
        'decode_head.conv_seg.weight (checkpoint (2, 8, 1, 1), model (3, 8, 1, 1)); '
        '1 weight(s) of the model not in the checkpoint: '
        'auxiliary_head.conv_seg.bias; 1 weight(s) the model does not have: '
        'decode_head.extra.weight. Loading it would leave those weights as '
        "initialised and the scores would not be the checkpoint's. Use the "
        'config it was trained with (the same model and num_classes).')


def test_a_semi_checkpoint_with_a_teacher_does_not_fit_a_semi_model_without():
    model = build(semi_segmentor_cfg())
    teacher_model = build(semi_segmentor_cfg(teacher='ema'))
    with pytest.raises(CheckpointMismatchError) as error:
        fit_checkpoint(model, {'state_dict': teacher_model.state_dict()}, 'ema.pth')
    assert 'weight(s) the model does not have: teacher.backbone.stem.0.weight' in (
        str(error.value))


def test_a_truncated_file_is_named_before_loading(tmp_path):
    path = tmp_path / 'iter_4.pth'
    torch.save({'state_dict': plain_state()}, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(IncompleteCheckpointError, match='iter_4.pth is truncated'):
        load_checkpoint_exactly(build(tiny_segmentor_cfg()), str(path))
