import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from mmseg_csl import PseudoLabelCrossEntropyLoss


def make_inputs(seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 4, 6, 5, generator=generator, requires_grad=True)
    label = torch.randint(0, 4, (2, 6, 5), generator=generator)
    weight = torch.rand(2, 6, 5, generator=generator)
    valid = torch.rand(2, 6, 5, generator=generator) > 0.3
    return logits, label, weight, valid


def test_mean_over_valid_pixels_not_selected_ones():
    logits, label, weight, valid = make_inputs()
    loss = PseudoLabelCrossEntropyLoss()(logits, label, weight, valid)
    per_pixel = F.cross_entropy(logits, label, reduction='none')
    expected = (per_pixel * weight)[valid].sum() / valid.sum()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert logits.grad.abs().sum() > 0
    assert (logits.grad.permute(0, 2, 3, 1)[~valid] == 0).all()


def test_zero_weight_everywhere_gives_zero_loss_and_no_valid_pixel_is_finite():
    logits, label, weight, valid = make_inputs()
    loss_fn = PseudoLabelCrossEntropyLoss()
    assert loss_fn(logits, label, torch.zeros_like(weight), valid) == 0
    none_valid = loss_fn(logits, label, weight, torch.zeros_like(valid))
    assert none_valid == 0 and torch.isfinite(none_valid)


def test_logits_at_lower_resolution_are_resized():
    logits, label, weight, valid = make_inputs()
    small = logits.detach()[..., ::2, ::2].clone()
    loss = PseudoLabelCrossEntropyLoss(loss_weight=2.0)(small, label, weight, valid)
    resized = F.interpolate(small, size=(6, 5), mode='bilinear', align_corners=False)
    per_pixel = F.cross_entropy(resized, label, reduction='none')
    expected = 2 * (per_pixel * weight)[valid].sum() / valid.sum()
    torch.testing.assert_close(loss, expected)


def test_shape_mismatch_raises():
    logits, label, weight, valid = make_inputs()
    with pytest.raises(ValueError, match='share a shape'):
        PseudoLabelCrossEntropyLoss()(logits, label, weight[:, :-1], valid)
    with pytest.raises(ValueError, match='does not match'):
        PseudoLabelCrossEntropyLoss()(logits[:1], label, weight, valid)


def test_registered_with_loss_name():
    loss = MODELS.build(dict(type='PseudoLabelCrossEntropyLoss', loss_name='loss_fp'))
    assert loss.loss_name == 'loss_fp'
