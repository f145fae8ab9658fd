from types import SimpleNamespace

import pytest
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmseg.registry import HOOKS, MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.engine.hooks import ClassCountCheckHook
from mmseg_csl.engine.hooks.class_count_check_hook import (
    check_class_count,
    decode_heads,
    predicted_classes,
)
from tests.semi_utils import NUM_CLASSES, semi_segmentor_cfg, tiny_segmentor_cfg


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def dataset_with(num_classes: int) -> SimpleNamespace:
    classes = tuple(f'class{c}' for c in range(num_classes))
    return SimpleNamespace(metainfo={'classes': classes})


def segmentor(decode_classes: int = NUM_CLASSES, aux_classes: int = NUM_CLASSES,
              **decode_head) -> ConfigDict:
    cfg = tiny_segmentor_cfg()
    cfg.decode_head.update(num_classes=decode_classes, **decode_head)
    cfg.auxiliary_head.num_classes = aux_classes
    return cfg


def test_matching_model_passes():
    model = MODELS.build(segmentor())
    check_class_count(model, dataset_with(NUM_CLASSES), 'training')


def test_dataset_without_classes_is_not_checked():
    model = MODELS.build(segmentor())
    check_class_count(model, SimpleNamespace(metainfo={}), 'training')


@pytest.mark.parametrize('decode, aux, named', [
    (5, NUM_CLASSES, ["'decode_head' (FCNHead) predicts 5 (num_classes=5)"]),
    (NUM_CLASSES, 2, ["'auxiliary_head' (FCNHead) predicts 2 (num_classes=2)"]),
    (4, 4, ["'decode_head' (FCNHead) predicts 4", "'auxiliary_head' (FCNHead)"]),
])
def test_mismatch_names_heads_and_dataset_classes(decode, aux, named):
    model = MODELS.build(segmentor(decode, aux))
    with pytest.raises(ValueError) as error:
        check_class_count(model, dataset_with(NUM_CLASSES), 'validation')
    message = str(error.value)
    assert "the validation dataset (SimpleNamespace) has 3 classes ('class0'" in message
    for text in named:
        assert text in message
    assert 'Set num_classes=3' in message


def test_heads_inside_semi_segmentor_are_checked():
    cfg = semi_segmentor_cfg(teacher='ema')
    cfg.segmentor = segmentor(decode_classes=7)
    model = MODELS.build(cfg)
    assert [name for name, _ in decode_heads(model)] == [
        'segmentor.decode_head', 'segmentor.auxiliary_head', 'teacher.decode_head',
        'teacher.auxiliary_head'
    ]
    with pytest.raises(ValueError, match=r"'segmentor.decode_head' \(FCNHead\) "
                       r'predicts 7 \(num_classes=7\)'):
        check_class_count(model, dataset_with(NUM_CLASSES), 'training')


def test_binary_head_with_one_output_channel_counts_two_classes():
    binary = segmentor(
        decode_classes=2, aux_classes=2, out_channels=1,
        loss_decode={'type': 'CrossEntropyLoss', 'use_sigmoid': True})
    model = MODELS.build(binary)
    assert predicted_classes(model.decode_head) == 2
    check_class_count(model, dataset_with(2), 'training')
    with pytest.raises(ValueError, match=r'predicts 2 \(num_classes=2, '
                       r'out_channels=1: binary\)'):
        check_class_count(model, dataset_with(3), 'training')


def test_ignored_head_types_are_skipped():
    model = MODELS.build(segmentor(aux_classes=2))
    check_class_count(model, dataset_with(NUM_CLASSES), 'training',
                      ignored_types=('FCNHead', ))
    assert 'STDCHead' in ClassCountCheckHook().ignored_types


class FakeRunner(SimpleNamespace):
    """What the hook reads of a Runner: the model and the dataloaders."""


def fake_runner(model, train_classes, val_classes=None) -> FakeRunner:
    val_loader = None
    if val_classes is not None:
        val_loader = SimpleNamespace(dataset=dataset_with(val_classes))
    return FakeRunner(
        model=model,
        train_dataloader=SimpleNamespace(dataset=dataset_with(train_classes)),
        val_dataloader=val_loader,
        val_loop=val_loader,
        test_dataloader=val_loader)


def test_hook_checks_train_and_val_datasets_before_training():
    hook = HOOKS.build({'type': 'ClassCountCheckHook'})
    model = MODELS.build(segmentor())
    hook.before_train(fake_runner(model, NUM_CLASSES))
    hook.before_train(fake_runner(model, NUM_CLASSES, NUM_CLASSES))
    with pytest.raises(ValueError, match='the training dataset'):
        hook.before_train(fake_runner(model, 4, NUM_CLASSES))
    with pytest.raises(ValueError, match='the validation dataset'):
        hook.before_train(fake_runner(model, NUM_CLASSES, 4))
    with pytest.raises(ValueError, match='the validation dataset'):
        hook.before_val(fake_runner(model, NUM_CLASSES, 4))
    with pytest.raises(ValueError, match='the test dataset'):
        hook.before_test(fake_runner(model, NUM_CLASSES, 4))


def test_long_class_lists_are_cut_in_the_message():
    model = MODELS.build(segmentor())
    with pytest.raises(ValueError, match=r"has 150 classes \('class0', .*'class7', "
                       r"\.\.\.\) in metainfo"):
        check_class_count(model, dataset_with(150), 'training')
