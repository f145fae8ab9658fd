from mmengine.config import Config

from mmseg_csl.utils import config_dicts


def tree():
    return dict(type='A', children=[dict(type='B', inner=(dict(type='C'), 3)),
                                    'leaf'], last=dict(type='D'))


def test_every_dict_outermost_first_in_key_order():
    assert [node['type'] for node in config_dicts(tree())] == ['A', 'B', 'C', 'D']
    assert list(config_dicts(['x', 1, None])) == []
    assert list(config_dicts('not a tree')) == []


def test_the_walk_enters_what_the_caller_put_in_place():
    root = tree()
    seen = []
    for node in config_dicts(root):
        seen.append(node['type'])
        if node['type'] == 'A':
            node['last'] = dict(type='E', more=[dict(type='F')])
            node['added'] = dict(type='G')
    assert seen == ['A', 'B', 'C', 'E', 'F', 'G']


def test_enter_leaves_out_the_values_it_refuses():
    walk = config_dicts(tree(), enter=lambda key, _: key != 'children')
    assert [node['type'] for node in walk] == ['A', 'D']


def test_a_config_is_walked_through_its_config_dicts():
    cfg = Config(dict(model=dict(type='M', backbone=dict(type='R', norm_cfg=dict(
        type='SyncBN')))))
    for node in config_dicts(cfg._cfg_dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
    assert cfg.model.backbone.norm_cfg.type == 'BN'
