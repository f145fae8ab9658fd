"""SemiSegmentor and its losses under mixed precision, on CPU (bfloat16
autocast, the one CPU autocast dtype). tests/test_cuda repeats the training
step on a GPU in float32 and bfloat16."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl.models.losses import (
    BatchOhemCrossEntropyLoss,
    PseudoLabelCrossEntropyLoss,
)
from tests.semi_utils import (
    REFERENCE_METHODS,
    amp_training_run,
    assert_finite_and_trains,
    make_semi_batch,
    semi_segmentor_cfg,
    training_step,
)


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture
def pytorch_selection(monkeypatch):
    """The selector's PyTorch path, which autocast would reach (the compiled
    CPU kernels are not dispatched through it)."""
    for module in ('confidence_features', 'csl_selector'):
        monkeypatch.setattr(f'mmseg_csl.models.selectors.{module}.kernels_for',
                            lambda *tensors: None)


def build(method):
    torch.manual_seed(0)
    return MODELS.build(semi_segmentor_cfg(**REFERENCE_METHODS[method][0])).train()


@pytest.mark.parametrize('method', sorted(REFERENCE_METHODS))
def test_bfloat16_step_gives_finite_float32_losses_and_trains(method):
    model = build(method)
    batch = make_semi_batch(masked_views=REFERENCE_METHODS[method][1], seed=1)
    losses, logits_dtypes = training_step(model, batch, torch.bfloat16)

    assert logits_dtypes == {torch.bfloat16}  # the network ran in bfloat16
    assert set(losses) >= {'sup.decode.loss_ce', 'unsup.loss_s1',
                           'unsup.loss_s2', 'unsup.loss_fp'}
    assert_finite_and_trains(model, losses)


class SelectorRecorder:
    """Wraps a selector; keeps the probabilities it was given, whether
    autocast was on, and its results."""

    def __init__(self, selector):
        self.selector, self.calls = selector, []

    def __call__(self, probs, valid):
        result = self.selector(probs, valid)
        self.calls.append((probs, valid, torch.is_autocast_enabled('cpu'), result))
        return result


@pytest.mark.parametrize('method', ['csl', 'csl-masking'])
def test_selector_gets_float32_probabilities_outside_autocast(method,
                                                              pytorch_selection):
    model = build(method)
    recorder = model.selector = SelectorRecorder(model.selector)
    training_step(model, make_semi_batch(masked_views=REFERENCE_METHODS[method][1]),
                  torch.bfloat16)

    assert len(recorder.calls) == 2  # trained weak views and CutMix sources
    for probs, valid, autocast_on, result in recorder.calls:
        assert probs.dtype == torch.float32 and not autocast_on
        torch.testing.assert_close(probs.sum(dim=1), torch.ones_like(probs[:, 0]))
        # the selection equals one made outside any autocast region
        expected = recorder.selector(probs, valid)
        assert torch.equal(result.weight, expected.weight)


def test_autocast_would_change_the_selection(pytorch_selection):
    """Why the selector runs outside autocast: CPU autocast lowers
    torch.linalg.vecdot, which its cluster statistics use, to bfloat16."""
    probs = (torch.randn(2, 21, 32, 32, generator=torch.Generator().manual_seed(0))
             * 3).softmax(dim=1)
    selector = build('csl').selector
    with torch.autocast('cpu', dtype=torch.bfloat16):
        lowered = selector(probs)
    assert not torch.equal(lowered.weight, selector(probs).weight)


def pseudo_label_loss(logits, label):
    weight = torch.rand(label.shape, generator=torch.Generator().manual_seed(2))
    return PseudoLabelCrossEntropyLoss()(logits, label, weight, label >= 0)


@pytest.mark.parametrize('loss', [
    pseudo_label_loss,
    lambda logits, label: BatchOhemCrossEntropyLoss(min_kept=100)(logits, label),
], ids=['pseudo_label', 'batch_ohem'])
def test_losses_of_bfloat16_logits_are_computed_in_float32(loss):
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(2, 5, 16, 16, generator=generator) * 4).bfloat16()
    label = torch.randint(0, 5, (2, 16, 16), generator=generator)
    logits.requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = loss(logits, label)
    value.backward()

    assert value.dtype == torch.float32
    reference = loss(logits.detach().double(), label)
    assert value.item() == pytest.approx(reference.item(), rel=1e-5)
    assert logits.grad.dtype == torch.bfloat16 and torch.isfinite(logits.grad).all()


def test_amp_optim_wrapper_trains_in_bfloat16(tmp_path, monkeypatch):
    """mmengine's AmpOptimWrapper, as the paper configs use it. It refuses
    to be built without a GPU, so the check is lifted: on CPU its gradient
    scaler is disabled and its autocast is CPU bfloat16."""
    monkeypatch.setattr(
        'mmengine.optim.optimizer.amp_optimizer_wrapper.is_cuda_available',
        lambda: True)
    run = amp_training_run(tmp_path, 'bfloat16')

    assert run['wrapper'] == 'AmpOptimWrapper'
    assert run['logits_dtypes'] == {torch.bfloat16}
    assert len(run['outputs']) == 2
    for outputs in run['outputs']:
        assert all(torch.isfinite(torch.as_tensor(value)) for value in outputs.values())
    assert run['moved']
