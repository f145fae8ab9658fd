import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import TRANSFORMS

from mmseg_csl.datasets.transforms import AddMetaInfo

PACK_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
             'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
             'masked_view')


def test_sets_the_given_keys():
    results = AddMetaInfo(masked_view=True, tag='mild')({'img': None})
    assert results['masked_view'] is True and results['tag'] == 'mild'


def test_needs_a_key():
    with pytest.raises(ValueError, match='at least one key'):
        AddMetaInfo()


def test_random_choice_in_a_branch_tags_the_chosen_view():
    init_default_scope('mmseg')
    multi_branch = TRANSFORMS.build({
        'type': 'MultiBranch',
        'branch_field': ['unsup_strong2'],
        'unsup_strong2': [{
            'type': 'RandomChoice',
            'transforms': [
                [{'type': 'AddMetaInfo', 'masked_view': True, 'view': 'mild'}],
                [{'type': 'AddMetaInfo', 'view': 'strong'}],
            ],
            'prob': [0.5, 0.5]
        }, {
            'type': 'PackSegInputs',
            'meta_keys': PACK_KEYS + ('view', )
        }]
    })
    views = []
    for seed in range(20):
        np.random.seed(seed)
        results = {'img': np.zeros((4, 5, 3), np.uint8), 'img_shape': (4, 5)}
        metainfo = multi_branch(results)['data_samples']['unsup_strong2'].metainfo
        assert metainfo.get('masked_view', False) == (metainfo['view'] == 'mild')
        assert 'masked_view' not in results
        views.append(metainfo['view'])
    assert {'mild', 'strong'} == set(views)
