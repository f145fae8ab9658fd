import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_csl import BatchOhemCrossEntropyLoss

IGNORE = 255
# Ground-truth probabilities of the six labeled pixels of `tiny_batch`.
PROBS = [0.1, 0.3, 0.6, 0.8, 0.9, 0.95]


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def tiny_batch():
    """One 2x4 image, two classes, every label 0: six labeled pixels whose
    class-0 probability is PROBS, and two ignored ones at 0.05 (the hardest,
    were they counted)."""
    probs = torch.tensor(PROBS[:3] + [0.05] + PROBS[3:] + [0.05],
                         dtype=torch.float64)
    logits = torch.stack([probs.log(), (1 - probs).log()]).view(1, 2, 2, 4)
    label = torch.zeros(1, 2, 4, dtype=torch.long)
    label[0, 0, 3] = label[0, 1, 3] = IGNORE
    return logits.requires_grad_(), label


def mean_nll(probs):
    return sum(-math.log(p) for p in probs) / len(probs)


@pytest.mark.parametrize(
    'min_kept, kept_probs',
    [
        (0, PROBS[:3]),  # the threshold alone: p <= 0.7
        (2, PROBS[:3]),  # the threshold already keeps more than min_kept
        (5, PROBS[:5]),  # raised to the 5th smallest labeled p, 0.9
        (6, PROBS),  # min_kept == labeled: all
        (7, PROBS),  # min_kept > labeled: all
    ])
def test_matches_hand_computation(min_kept, kept_probs):
    logits, label = tiny_batch()
    loss_fn = BatchOhemCrossEntropyLoss(thresh=0.7, min_kept=min_kept)
    kept = loss_fn.hard_pixel_mask(logits, label, IGNORE)
    assert int(kept.sum()) == len(kept_probs)
    assert not kept[label == IGNORE].any()
    loss = loss_fn(logits, label, ignore_index=IGNORE)
    assert loss.item() == pytest.approx(mean_nll(kept_probs), rel=1e-9)


def test_mean_over_kept_not_over_all_pixels():
    logits, label = tiny_batch()
    loss = BatchOhemCrossEntropyLoss(thresh=0.7, min_kept=0)(logits, label)
    kept_sum = sum(-math.log(p) for p in PROBS[:3])
    assert loss.item() == pytest.approx(kept_sum / 3, rel=1e-9)
    assert loss.item() != pytest.approx(kept_sum / 6, rel=1e-3)
    assert loss.item() != pytest.approx(kept_sum / 8, rel=1e-3)


def easy_logits(shape, generator):
    """Logits whose ground-truth class (label 0) has distinct p in (0.9, 1)."""
    logits = torch.zeros(shape)
    logits[:, 0] = 3 + torch.rand(logits[:, 0].shape, generator=generator)
    return logits


def test_keeps_exactly_min_kept_when_all_pixels_are_easy():
    generator = torch.Generator().manual_seed(0)
    logits = easy_logits((2, 3, 16, 16), generator).requires_grad_()
    label = torch.zeros(2, 16, 16, dtype=torch.long)
    loss_fn = BatchOhemCrossEntropyLoss(thresh=0.7, min_kept=100)
    kept = loss_fn.hard_pixel_mask(logits, label)
    assert int(kept.sum()) == 100
    gt_prob = logits.detach().softmax(dim=1)[:, 0]
    assert gt_prob[kept].max() < gt_prob[~kept].min()
    loss_fn(logits, label).backward()
    has_grad = logits.grad.abs().sum(dim=1) > 0
    assert torch.equal(has_grad, kept)


def test_min_kept_counts_the_batch_not_each_image():
    generator = torch.Generator().manual_seed(0)
    logits = easy_logits((2, 3, 16, 16), generator)
    logits[1] = -logits[1]  # image 1: every pixel hard (p < 0.7)
    label = torch.zeros(2, 16, 16, dtype=torch.long)
    kept = BatchOhemCrossEntropyLoss(thresh=0.7, min_kept=100).hard_pixel_mask(
        logits, label)
    assert not kept[0].any()
    assert kept[1].all()


def ohem_by_sorting(logits, label, thresh, min_kept):
    """The rule written with a full sort, for comparison."""
    per_pixel = F.cross_entropy(logits, label, reduction='none', ignore_index=IGNORE)
    valid = label != IGNORE
    if min_kept >= valid.sum():
        kept = valid
    else:
        gt_prob = logits.softmax(dim=1).gather(
            1, label.clamp(max=logits.shape[1] - 1).unsqueeze(1)).squeeze(1)
        threshold = thresh
        if min_kept > 0:
            threshold = max(thresh, gt_prob[valid].sort().values[min_kept - 1])
        kept = valid & (gt_prob <= threshold)
    return per_pixel[kept].mean()


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('thresh', [0.3, 0.7])
@pytest.mark.parametrize('min_kept', [0, 1, 100, 200, 600])
def test_random_batches_match_sorting(seed, thresh, min_kept):
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(2, 4, 12, 12, generator=generator)
    label = torch.randint(0, 4, (2, 12, 12), generator=generator)
    label[torch.rand(2, 12, 12, generator=generator) < 0.2] = IGNORE
    loss = BatchOhemCrossEntropyLoss(thresh=thresh, min_kept=min_kept)(logits, label)
    expected = ohem_by_sorting(logits, label, thresh, min_kept)
    torch.testing.assert_close(loss, expected)


def test_no_labeled_pixel_gives_zero_and_a_gradient_path():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    label = torch.full((1, 4, 4), IGNORE, dtype=torch.long)
    loss = BatchOhemCrossEntropyLoss(min_kept=0)(logits, label)
    assert loss.item() == 0
    loss.backward()
    assert (logits.grad == 0).all()


def test_loss_weight_name_and_registry():
    logits, label = tiny_batch()
    loss_fn = MODELS.build(
        dict(type='BatchOhemCrossEntropyLoss', min_kept=0, loss_weight=2.0))
    assert loss_fn.loss_name == 'loss_ce'
    assert loss_fn(logits, label).item() == pytest.approx(2 * mean_nll(PROBS[:3]))
    assert BatchOhemCrossEntropyLoss(loss_name='loss_ohem').loss_name == 'loss_ohem'


def test_invalid_arguments_raise():
    logits, label = tiny_batch()
    with pytest.raises(ValueError, match='per-pixel weight'):
        BatchOhemCrossEntropyLoss()(logits, label, weight=torch.ones(1, 2, 4))
    with pytest.raises(ValueError, match='does not match'):
        BatchOhemCrossEntropyLoss()(logits, label[..., :3])
    with pytest.raises(ValueError, match='thresh'):
        BatchOhemCrossEntropyLoss(thresh=1.5)
    with pytest.raises(ValueError, match='min_kept'):
        BatchOhemCrossEntropyLoss(min_kept=-1)


def head_with_loss(loss_decode, **kwargs):
    return MODELS.build(
        dict(
            type='FCNHead',
            in_channels=4,
            channels=4,
            num_convs=1,
            num_classes=3,
            dropout_ratio=0.0,
            align_corners=True,
            loss_decode=loss_decode,
            **kwargs))


def labeled_samples(generator, size=32):
    """Two samples with random labels and an ignored (padded) border."""
    samples = []
    for _ in range(2):
        label = torch.randint(0, 3, (1, size, size), generator=generator)
        label[:, -5:] = IGNORE
        label[..., :3] = IGNORE
        samples.append(SegDataSample(gt_sem_seg=PixelData(data=label)))
    return samples


def upsampled(seg_logits, size=32):
    return F.interpolate(
        seg_logits, size=(size, size), mode='bilinear', align_corners=True)


def test_inside_decode_head_loss_by_feat():
    generator = torch.Generator().manual_seed(0)
    seg_logits = 2 * torch.randn(2, 3, 8, 8, generator=generator)
    samples = labeled_samples(generator)
    label = torch.cat([s.gt_sem_seg.data for s in samples])
    head = head_with_loss(
        dict(type='BatchOhemCrossEntropyLoss', thresh=0.7, min_kept=900))
    loss = head.loss_by_feat(seg_logits, samples)['loss_ce']
    expected = ohem_by_sorting(upsampled(seg_logits), label, 0.7, 900)
    torch.testing.assert_close(loss, expected)

    with_sampler = head_with_loss(
        dict(type='BatchOhemCrossEntropyLoss'),
        sampler=dict(type='OHEMPixelSampler', thresh=0.7, min_kept=100))
    with pytest.raises(ValueError, match='pixel sampler'):
        with_sampler.loss_by_feat(seg_logits, samples)


def test_mmseg_cross_entropy_avg_non_ignore_is_mean_over_labeled_pixels():
    generator = torch.Generator().manual_seed(1)
    seg_logits = 2 * torch.randn(2, 3, 8, 8, generator=generator)
    samples = labeled_samples(generator)
    label = torch.cat([s.gt_sem_seg.data for s in samples])
    labeled = label != IGNORE
    log_prob = upsampled(seg_logits).log_softmax(dim=1)
    nll = -log_prob.gather(1, label.clamp(max=2).unsqueeze(1)).squeeze(1)
    total = nll[labeled].sum()

    head = head_with_loss(dict(type='CrossEntropyLoss', avg_non_ignore=True))
    loss = head.loss_by_feat(seg_logits, samples)['loss_ce']
    torch.testing.assert_close(loss, total / labeled.sum())
    torch.testing.assert_close(
        loss, F.cross_entropy(upsampled(seg_logits), label, ignore_index=IGNORE))

    default = head_with_loss(dict(type='CrossEntropyLoss'))
    loss = default.loss_by_feat(seg_logits, samples)['loss_ce']
    torch.testing.assert_close(loss, total / label.numel())
