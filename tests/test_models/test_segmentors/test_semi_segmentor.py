import copy
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.models.selectors import ThresholdSelector
from mmseg_csl.models.utils import running_stat_buffers
from tests.semi_utils import make_semi_batch, semi_segmentor_cfg, tiny_segmentor_cfg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
UNSUP_KEYS = {'unsup.loss_s1', 'unsup.loss_s2', 'unsup.loss_fp'}
SUP_KEYS = {
    'sup.decode.loss_ce', 'sup.decode.acc_seg', 'sup.aux.loss_ce',
    'sup.aux.acc_seg'
}


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def build(semi_test_cfg=None, **semi_train_cfg):
    torch.manual_seed(0)
    model = MODELS.build(semi_segmentor_cfg(semi_test_cfg, **semi_train_cfg))
    return model.train()


class Recorder:
    """Wraps a callable and keeps its positional arguments and results."""

    def __init__(self, function):
        self.function, self.args, self.results = function, [], []

    def __call__(self, *args):
        self.args.append(args)
        self.results.append(self.function(*args))
        return self.results[-1]


def record(monkeypatch, owner, name):
    recorder = Recorder(getattr(owner, name))
    monkeypatch.setattr(owner, name, recorder)
    return recorder


def perturb(module, scale=0.5):
    with torch.no_grad():
        for param in module.parameters():
            param.add_(scale * torch.randn_like(param))


def test_every_loss_term_is_present_finite_and_trains_the_network():
    model = build()
    losses = model.loss(**make_semi_batch(weak_gt=True))

    assert set(losses) == SUP_KEYS | UNSUP_KEYS
    assert all(torch.isfinite(value).all() for value in losses.values())
    params = dict(model.named_parameters())
    watched = ('segmentor.backbone.stem.0.weight',
               'segmentor.decode_head.conv_seg.weight')
    for key in UNSUP_KEYS:
        model.zero_grad()
        losses[key].backward(retain_graph=True)
        assert all(params[name].grad.abs().sum() > 0 for name in watched), key
    model.zero_grad()
    model.parse_losses(losses)[0].backward()
    assert params['segmentor.auxiliary_head.conv_seg.weight'].grad.abs().sum(
    ) > 0


def test_loss_weights_scale_their_terms():
    batch = make_semi_batch()
    weighted = build()
    unit = build(sup_weight=1.0, strong_weights=(1.0, 1.0), fp_weight=1.0)
    unit.load_state_dict(weighted.state_dict())
    torch.manual_seed(1)
    weighted_losses = weighted.loss(**batch)
    torch.manual_seed(1)
    unit_losses = unit.loss(**batch)

    expected = {
        'sup.decode.loss_ce': 0.5,
        'sup.aux.loss_ce': 0.5,
        'sup.decode.acc_seg': 1.0,
        'unsup.loss_s1': 0.125,
        'unsup.loss_s2': 0.125,
        'unsup.loss_fp': 0.25
    }
    for key, factor in expected.items():
        assert torch.allclose(weighted_losses[key], factor * unit_losses[key])


def test_feature_perturbation_drops_whole_channels_of_labeled_and_weak_features(
        monkeypatch):
    # As the reference: the head sees [x; u_w; drop(x); drop(u_w)], and the
    # fp loss trains the prediction of drop(u_w).
    model = build()
    decode = record(monkeypatch, model.segmentor.decode_head, 'forward')
    loss_calls = record(monkeypatch, model.unsup_loss, 'forward')
    batch = make_semi_batch(num_sup=2, num_unsup=2)
    model.loss(**batch)

    feats = decode.args[0][0]
    for level in feats:
        assert len(level) == 2 * (2 + 2)
        clean, perturbed = level[:4], level[4:]
        dropped = (perturbed == 0).flatten(2).all(dim=2)
        kept = torch.isclose(perturbed, 2 * clean).flatten(2).all(dim=2)
        assert (dropped | kept).all()
        assert dropped.any() and kept.any()
    fp_logits = loss_calls.args[2][0]
    head_output = decode.results[0][6:]
    assert torch.allclose(fp_logits, F.interpolate(
        head_output, size=fp_logits.shape[2:], mode='bilinear',
        align_corners=model.segmentor.decode_head.align_corners))


def test_disabled_feature_perturbation_has_no_fp_term(monkeypatch):
    model = build(fp={'enabled': False})
    decode = record(monkeypatch, model.segmentor.decode_head, 'forward')
    losses = model.loss(**make_semi_batch(num_sup=2, num_unsup=2))

    assert set(losses) == SUP_KEYS | {'unsup.loss_s1', 'unsup.loss_s2'}
    assert all(len(level) == 2 + 2 for level in decode.args[0][0])


def _strong_views(feature_calls, num_u):
    strong = feature_calls.args[-1][0]
    return strong[:num_u], strong[num_u:]


def test_masked_view_masks_reliable_pixels_and_is_never_mixed(monkeypatch):
    model = build(cutmix={'views': ('strong1', ), 'prob': 1.0})
    features = record(monkeypatch, model.segmentor, 'extract_feat')
    loss_calls = record(monkeypatch, model.unsup_loss, 'forward')
    batch = make_semi_batch(masked_views=[False, True, False, False])
    model.loss(**batch)

    original = batch['inputs']['unsup_strong2']
    strong1, strong2 = _strong_views(features, 2)
    selection = model.last_selection.result
    zeros = (strong2[1] == 0).all(dim=0)
    assert zeros.any()
    assert torch.equal(zeros, (strong2[1] != original[1]).any(dim=0))
    assert not (zeros & ~selection.reliable[1]).any()
    # Neither second strong view is mixed: the unmasked one is untouched and
    # both are trained toward their own, un-mixed targets.
    assert torch.equal(strong2[0], original[0])
    label, weight, _ = loss_calls.args[1][1:]
    assert torch.equal(label, selection.pseudo_label)
    assert torch.equal(weight, selection.weight)
    # The first strong view got its CutMix boxes.
    for index in range(2):
        pasted = (strong1[index] != batch['inputs']['unsup_strong1'][index])
        assert pasted.any()


def test_masked_views_with_a_mixed_second_view_are_refused():
    model = build(cutmix={'views': ('strong1', 'strong2')})
    with pytest.raises(ValueError, match=r"cutmix.views=\('strong1',\)"):
        model.loss(**make_semi_batch(masked_views=[True, False, False, False]))


def test_masked_views_in_the_first_strong_branch_are_refused():
    model = build(cutmix={'views': ('strong1', )})
    batch = make_semi_batch()
    batch['data_samples']['unsup_strong1'][0].set_metainfo(
        {'masked_view': True})
    with pytest.raises(ValueError, match="'unsup_strong1' holds masked-view samples"):
        model.loss(**batch)


@pytest.mark.parametrize('views', [(), ('strong1', ), ('strong2', ),
                                   ('strong1', 'strong2')])
def test_cutmix_reaches_exactly_the_named_views(monkeypatch, views):
    model = build(cutmix={'views': views, 'prob': 1.0})
    features = record(monkeypatch, model.segmentor, 'extract_feat')
    batch = make_semi_batch()
    model.loss(**batch)

    for name, view in zip(('strong1', 'strong2'), _strong_views(features, 2)):
        original = batch['inputs'][f'unsup_{name}'][:2]
        assert torch.equal(view, original) == (name not in views)


@pytest.mark.parametrize('source_view, source_branches', [
    (None, ('unsup_strong1', 'unsup_strong2')),
    ('strong1', ('unsup_strong1', 'unsup_strong1')),
])
def test_cutmix_pastes_source_views_with_their_targets(monkeypatch, source_view,
                                                        source_branches):
    model = build(cutmix={'prob': 1.0, 'source_view': source_view})
    features = record(monkeypatch, model.segmentor, 'extract_feat')
    selections = Recorder(model.selector)
    model.selector = selections
    loss_calls = record(monkeypatch, model.unsup_loss, 'forward')
    batch = make_semi_batch(unsup_img_shapes=[(32, 32), (32, 32), (24, 32),
                                              (32, 20)])
    model.loss(**batch)

    own, source = selections.results
    own_valid, source_valid = selections.args[0][1], selections.args[1][1]
    views = _strong_views(features, 2)
    branches = ('unsup_strong1', 'unsup_strong2')
    assert not torch.equal(batch['inputs'][branches[0]][2:],
                           batch['inputs'][branches[1]][2:])
    for view, branch, source_branch, call in zip(views, branches, source_branches,
                                                 loss_calls.args):
        original = batch['inputs'][branch]
        sources = batch['inputs'][source_branch][2:]
        label, weight, valid = call[1:]
        for i in range(2):
            box = (view[i] != original[i]).any(dim=0)
            assert box.any() and not box.all()
            assert torch.equal(view[i][:, box], sources[i][:, box])
            assert torch.equal(
                label[i], torch.where(box, source.pseudo_label[i],
                                      own.pseudo_label[i]))
            assert torch.equal(
                weight[i], torch.where(box, source.weight[i], own.weight[i]))
            assert torch.equal(
                valid[i], torch.where(box, source_valid[i], own_valid[i]))
    fp_label, fp_weight, fp_valid = loss_calls.args[2][1:]
    assert torch.equal(fp_label, own.pseudo_label)
    assert torch.equal(fp_weight, own.weight)
    assert torch.equal(fp_valid, own_valid)


def test_padding_is_invalid_and_weighs_nothing():
    model = build()
    model.loss(**make_semi_batch(
        unsup_img_shapes=[(20, 32), (32, 24), (32, 32), (32, 32)]))

    record_ = model.last_selection
    expected = torch.ones(2, 32, 32, dtype=torch.bool)
    expected[0, 20:] = False
    expected[1, :, 24:] = False
    assert torch.equal(record_.valid, expected)
    assert (record_.result.weight[~expected] == 0).all()
    assert (record_.result.weight[expected] > 0).any()
    assert record_.gt_sem_seg is None


def test_selection_record_keeps_weak_ground_truth():
    model = build()
    batch = make_semi_batch(weak_gt=True)
    model.loss(**batch)

    expected = torch.cat([
        sample.gt_sem_seg.data
        for sample in batch['data_samples']['unsup_weak'][:2]
    ])
    assert torch.equal(model.last_selection.gt_sem_seg, expected)
    assert model.last_selection.ignore_index == 255


def test_ema_teacher_makes_the_pseudo_labels_without_gradient():
    model = build(teacher='ema')
    perturb(model.teacher)
    selections = Recorder(model.selector)
    model.selector = selections
    batch = make_semi_batch()
    losses = model.loss(**batch)
    model.parse_losses(losses)[0].backward()

    assert not model.teacher.training and model.segmentor.training
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(not p.requires_grad for p in model.teacher.parameters())
    with torch.no_grad():
        logits = model.teacher._forward(batch['inputs']['unsup_weak'])
    probs = F.interpolate(logits, size=(32, 32), mode='bilinear').softmax(1)
    assert torch.allclose(selections.args[0][0], probs[:2], atol=1e-6)
    assert torch.allclose(selections.args[1][0], probs[2:], atol=1e-6)


def test_selector_is_chosen_by_name():
    model = build(selector={'type': 'ThresholdSelector', 'threshold': 0.5})
    assert isinstance(model.selector, ThresholdSelector)
    assert torch.isfinite(model.loss(**make_semi_batch())['unsup.loss_s1'])


def _predictions(predictor, batch):
    samples = copy.deepcopy(batch['data_samples']['sup'])
    return predictor.predict(batch['inputs']['sup'], samples)


@pytest.mark.parametrize('predict_on', ['student', 'teacher'])
def test_inference_is_the_wrapped_segmentors(predict_on):
    model = build(teacher='ema', semi_test_cfg={'predict_on': predict_on})
    perturb(model.teacher)
    model.eval()
    batch = make_semi_batch()
    expected_model = model.teacher if predict_on == 'teacher' \
        else model.segmentor
    other_model = model.segmentor if predict_on == 'teacher' \
        else model.teacher

    results = _predictions(model, batch)
    expected = _predictions(expected_model, batch)
    other = _predictions(other_model, batch)
    for result, reference in zip(results, expected):
        assert torch.equal(result.pred_sem_seg.data,
                           reference.pred_sem_seg.data)
        assert torch.equal(result.seg_logits.data, reference.seg_logits.data)
    assert not all(
        torch.equal(a.seg_logits.data, b.seg_logits.data)
        for a, b in zip(results, other))
    images = batch['inputs']['sup']
    with torch.no_grad():
        assert torch.equal(model(images, mode='tensor'),
                           expected_model._forward(images))
        samples = copy.deepcopy(batch['data_samples']['sup'])
        steps = model.test_step({'inputs': images, 'data_samples': samples})
    assert torch.equal(steps[0].pred_sem_seg.data,
                       expected[0].pred_sem_seg.data)


def test_supervised_only_batch_trains_the_supervised_term():
    model = build()
    batch = make_semi_batch()
    sup_images, sup_samples = batch['inputs']['sup'], batch['data_samples'][
        'sup']
    for inputs, samples in (({'sup': sup_images}, {'sup': sup_samples}),
                            (sup_images, sup_samples)):
        losses = model.loss(inputs, samples)
        assert set(losses) == SUP_KEYS
        assert model.last_selection is None
        model.parse_losses(losses)[0].backward()


@pytest.mark.parametrize('semi_train_cfg, error, message', [
    ({'fp_weigth': 0.1}, KeyError, 'fp_weigth'),
    ({'fp': {'drop': 0.1}}, KeyError, 'semi_train_cfg.fp'),
    ({'teacher': 'mean'}, ValueError, 'teacher'),
    ({'strong_weights': (0.1, 0.1, 0.1)}, ValueError, 'strong_weights'),
    ({'cutmix': {'area': (0.5, 0.1)}}, ValueError, 'CutMix area'),
    ({'cutmix': {'source_view': 'weak'}}, ValueError, 'cutmix.source_view'),
])
def test_bad_semi_train_cfg_is_refused_early(semi_train_cfg, error, message):
    with pytest.raises(error, match=message):
        build(**semi_train_cfg)


def test_bad_semi_test_cfg_is_refused_early():
    with pytest.raises(ValueError, match='predict_on'):
        build(semi_test_cfg={'predict_on': 'teacher'})
    with pytest.raises(KeyError, match='mode'):
        build(semi_test_cfg={'mode': 'slide'})


def test_bad_batches_are_refused():
    model = build()
    odd = make_semi_batch()
    for branch in ('unsup_weak', 'unsup_strong1', 'unsup_strong2'):
        odd['inputs'][branch] = odd['inputs'][branch][:3]
        odd['data_samples'][branch] = odd['data_samples'][branch][:3]
    with pytest.raises(ValueError, match='even number'):
        model.loss(**odd)
    partial = make_semi_batch()
    del partial['inputs']['unsup_strong2']
    with pytest.raises(KeyError, match='unsup_strong2'):
        model.loss(**partial)
    small = make_semi_batch()
    small['inputs']['sup'] = small['inputs']['sup'][..., :16]
    with pytest.raises(ValueError, match="branch 'sup'"):
        model.loss(**small)


@pytest.mark.parametrize('teacher', ['self', 'ema'])
def test_plain_mmseg_checkpoint_loads_into_the_wrapper(tmp_path, teacher):
    """The warm start (README, "Add unlabeled data to your supervised
    model"): a plain mmseg checkpoint with ``load_from`` in a SemiSegmentor
    config fills every parameter and buffer of the wrapper, and the wrapper
    then predicts what the plain model predicts."""
    torch.manual_seed(3)
    plain = MODELS.build(tiny_segmentor_cfg())
    perturb(plain)
    path = str(tmp_path / 'plain.pth')
    torch.save({'meta': {}, 'state_dict': plain.state_dict()}, path)
    model = build(teacher=teacher)

    # strict: a missing or unexpected key raises
    load_checkpoint(model, path, map_location='cpu', strict=True)

    wrapped = {'segmentor': model.segmentor}
    if teacher == 'ema':
        wrapped['teacher'] = model.teacher
    assert set(model.state_dict()) == {
        f'{prefix}.{key}' for prefix in wrapped for key in plain.state_dict()}
    for segmentor in wrapped.values():
        for key, value in plain.state_dict().items():
            assert torch.equal(segmentor.state_dict()[key], value), key
    plain.eval()
    model.eval()
    batch = make_semi_batch(num_sup=3)
    images, samples = batch['inputs']['sup'], batch['data_samples']['sup']
    with torch.no_grad():
        expected = plain.predict(images, copy.deepcopy(samples))
        predicted = model.predict(images, copy.deepcopy(samples))
    for ours, theirs in zip(predicted, expected):
        assert torch.equal(ours.seg_logits.data, theirs.seg_logits.data)
        assert torch.equal(ours.pred_sem_seg.data, theirs.pred_sem_seg.data)


def _load_converter():
    path = osp.join(REPO, 'tools', 'model_converters', 'semi_to_mmseg.py')
    spec = importlib.util.spec_from_file_location('semi_to_mmseg', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converted_checkpoint_loads_strictly_into_the_plain_model(tmp_path):
    converter = _load_converter()
    model = build(teacher='ema')
    perturb(model.teacher)
    src = str(tmp_path / 'semi.pth')
    torch.save(
        {
            'meta': {'dataset_meta': {'classes': ('a', 'b', 'c')}},
            'state_dict': model.state_dict(),
            'optimizer': {'state': {}}}, src)

    for flag, source in (([], model.segmentor), (['--use-teacher'],
                                                 model.teacher)):
        dst = str(tmp_path / f'plain{len(flag)}' / 'model.pth')
        converter.main([src, dst, *flag])
        converted = torch.load(dst, weights_only=True)
        plain = MODELS.build(tiny_segmentor_cfg())
        plain.load_state_dict(converted['state_dict'], strict=True)
        assert converted['meta']['dataset_meta']['classes'] == ('a', 'b', 'c')
        for key, value in source.state_dict().items():
            assert torch.equal(plain.state_dict()[key], value), key


def test_converter_refuses_a_checkpoint_without_teacher():
    converter = _load_converter()
    state_dict = build().state_dict()
    with pytest.raises(ValueError, match='teacher'):
        converter.convert({'state_dict': state_dict}, use_teacher=True)



def _buffers(model):
    return [buffer.clone() for buffer in running_stat_buffers(model.segmentor)]


@pytest.mark.parametrize('mode', ['weak_forward', 'unimatch'])
def test_running_statistics_come_from_the_weak_forward_in_the_authors_mode(
        monkeypatch, mode):
    model = build(bn_running_stats=mode)
    after_labeled = []
    supervised_loss = model.supervised_loss

    # The auxiliary head runs on the labeled features in the supervised loss.
    def supervised_loss_then_snapshot(*args):
        losses = supervised_loss(*args)
        after_labeled.append(_buffers(model))
        return losses

    monkeypatch.setattr(model, 'supervised_loss', supervised_loss_then_snapshot)
    before = _buffers(model)
    losses = model.loss(**make_semi_batch())
    model.parse_losses(losses)[0].backward()

    assert any(not torch.equal(a, b) for a, b in zip(before, after_labeled[0]))
    kept = all(
        torch.equal(a, b) for a, b in zip(after_labeled[0], _buffers(model)))
    assert kept == (mode == 'weak_forward')


@pytest.mark.parametrize('mode, source_in_train_mode', [('weak_forward', True),
                                                        ('unimatch', False)])
def test_cutmix_sources_are_predicted_in_the_mode_of_the_reference(
        mode, source_in_train_mode):
    model = build(bn_running_stats=mode)
    modes = []
    model.segmentor.backbone.register_forward_pre_hook(
        lambda module, args: modes.append(module.training))
    model.loss(**make_semi_batch())

    # [x; u_w], then u', then both strong views.
    assert modes == [True, source_in_train_mode, True]


def test_supervised_loss_is_the_mean_over_labeled_pixels(monkeypatch):
    cfg = semi_segmentor_cfg()
    cfg.segmentor.decode_head.loss_decode['avg_non_ignore'] = True
    torch.manual_seed(0)
    model = MODELS.build(cfg).train()
    decode = record(monkeypatch, model.segmentor.decode_head, 'forward')
    batch = make_semi_batch()
    samples = batch['data_samples']['sup']
    samples[0].gt_sem_seg.data[:, :10] = 255
    samples[1].gt_sem_seg.data[:, :, 5:] = 255
    gt = torch.cat([sample.gt_sem_seg.data for sample in samples])
    losses = model.loss(**batch)

    logits = F.interpolate(decode.results[0][:2], size=gt.shape[1:],
                           mode='bilinear', align_corners=False)
    labeled = gt != 255
    per_pixel = F.cross_entropy(logits, gt.clamp(max=2), reduction='none')
    expected = 0.5 * per_pixel[labeled].sum() / labeled.sum()
    assert torch.allclose(losses['sup.decode.loss_ce'], expected, rtol=1e-5)


def test_feature_perturbation_is_switched_off_without_feature_maps():
    model = build()
    # DPT-like (feature, class token) pairs: the feature maps are perturbed
    assert model._can_perturb([[torch.zeros(2, 4, 3, 3), torch.zeros(2, 4)]])
    assert model.fp_enabled
    # tokens only: nothing to drop channels of, fp is switched off
    assert not model._can_perturb([torch.zeros(2, 9, 4), (torch.zeros(2, 4), )])
    assert not model.fp_enabled
    losses = model.loss(**make_semi_batch())
    assert 'unsup.loss_fp' not in losses and 'unsup.loss_s1' in losses
