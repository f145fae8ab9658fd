from collections import OrderedDict

from mmseg_csl.models.segmentors import (
    has_wrapped_keys,
    unwrap_segmentor_keys,
    wrap_segmentor_keys,
)


def test_plain_keys_move_under_the_student_and_the_teacher():
    state = OrderedDict([('model.backbone.w', 1), ('model.decode_head.b', 2),
                         ('other', 3)])
    assert wrap_segmentor_keys(state, prefix='model.', with_teacher=True)
    assert state == {'other': 3, 'model.segmentor.backbone.w': 1,
                     'model.teacher.backbone.w': 1, 'model.segmentor.decode_head.b': 2,
                     'model.teacher.decode_head.b': 2}
    assert has_wrapped_keys(state, 'model.') and not has_wrapped_keys(state)
    assert not wrap_segmentor_keys(state, prefix='model.')


def test_unwrapping_keeps_one_segmentor_and_its_metadata():
    state = OrderedDict([('segmentor.backbone.w', 1), ('teacher.backbone.w', 2),
                         ('selector.x', 3)])
    state._metadata = OrderedDict([('', {'version': 1}), ('segmentor', {}),
                                   ('segmentor.backbone', {'version': 2}),
                                   ('teacher.backbone', {'version': 3})])
    student = unwrap_segmentor_keys(state)
    assert student == {'backbone.w': 1}
    assert student._metadata == {'': {}, 'backbone': {'version': 2}}
    teacher = unwrap_segmentor_keys(state, use_teacher=True)
    assert teacher == {'backbone.w': 2}
    assert teacher._metadata == {'backbone': {'version': 3}}
