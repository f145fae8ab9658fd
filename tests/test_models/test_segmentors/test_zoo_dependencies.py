"""Models built from mmdet or mmpretrain: the missing package is named at
build time."""
import importlib.util

import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.models.segmentors import check_zoo_dependencies, needed_packages
from tests.semi_utils import tiny_segmentor_cfg


def test_needed_packages():
    assert needed_packages(tiny_segmentor_cfg()) == set()
    cfg = dict(backbone=dict(type='mmpretrain.ConvNeXt'),
               decode_head=[dict(type='Mask2FormerHead')])
    assert needed_packages(cfg) == {'mmdet', 'mmpretrain'}


def test_missing_mmdet_is_named_before_the_build(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec',
        lambda name, *args: None if name == 'mmdet' else find_spec(name, *args))
    segmentor = tiny_segmentor_cfg()
    segmentor.decode_head = dict(type='MaskFormerHead')
    with pytest.raises(ImportError, match=r"\['MaskFormerHead'\], which need "
                       r"\['mmdet'\].*mmseg_csl\[mmdet\]"):
        check_zoo_dependencies(segmentor)
    init_default_scope('mmseg')
    with pytest.raises(ImportError, match='MaskFormerHead'):
        MODELS.build(dict(type='SemiSegmentor', segmentor=segmentor,
                          semi_train_cfg={},
                          data_preprocessor=dict(type='BaseDataPreprocessor')))
