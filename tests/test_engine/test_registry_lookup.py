import pytest
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import DATASETS, MODELS

from mmseg_csl.engine.registry_lookup import registered_class


def test_a_registered_name_a_class_and_a_scoped_name_are_found():
    assert registered_class(dict(type='EncoderDecoder'), MODELS,
                            'model') is EncoderDecoder
    assert registered_class(dict(type=EncoderDecoder), MODELS,
                            'model') is EncoderDecoder
    assert registered_class(dict(type='CityscapesDataset', _scope_='mmseg'),
                            DATASETS, 'dataset').__name__ == 'CityscapesDataset'


def test_an_unknown_type_is_named_with_what_it_is():
    with pytest.raises(KeyError, match="semi: model type 'NoSuchModel' is not "
                       r'registered; is its package imported \(custom_imports\)'):
        registered_class(dict(type='NoSuchModel'), MODELS, 'semi: model')
