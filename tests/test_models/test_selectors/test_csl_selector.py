import pytest
import torch
from mmseg.registry import TASK_UTILS

from mmseg_csl import CSLSelector, ThresholdSelector
from mmseg_csl.analysis.reference_csl import reference_csl
from tests.selector_vectors import (
    VECTORS,
    assert_matches_vectors,
    load_vectors,
    needs_vectors,
    points,
)

VARIANTS = tuple(CSLSelector.VARIANTS)


@pytest.fixture(autouse=True, params=['cpu_kernels', 'pytorch'])
def selector_path(request, monkeypatch):
    """Every test runs twice: with the compiled CPU kernels (when built, see
    tests/test_ops) and with the PyTorch path that other devices use."""
    if request.param == 'pytorch':
        for module in ('confidence_features', 'csl_selector'):
            monkeypatch.setattr(f'mmseg_csl.models.selectors.{module}.kernels_for',
                                lambda *tensors: None)
    return request.param


def random_probs(batch=2, classes=5, height=12, width=10, scale=3.0, seed=0,
                 dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, height, width, generator=generator,
                         dtype=torch.float64) * scale
    return logits.softmax(dim=1).to(dtype)


@needs_vectors
@pytest.mark.parametrize('variant, path', VECTORS)
def test_matches_released_code_float64(variant, path):
    probs, valid, expected = load_vectors(path)
    result = CSLSelector(variant=variant)(probs, valid)
    assert_matches_vectors(result, probs, valid, expected, variant)


@needs_vectors
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('variant, path', VECTORS)
def test_low_precision_inputs_agree_on_reliable_mask(variant, path, dtype):
    probs, valid, _ = load_vectors(path)
    exact = CSLSelector(variant=variant)(probs, valid)
    low = CSLSelector(variant=variant)(probs.to(dtype), valid)
    assert low.weight.dtype == torch.float32
    agreement = (low.reliable == exact.reliable)[valid].double().mean().item()
    assert agreement >= 0.999
    assert torch.isfinite(low.weight).all()


@pytest.mark.parametrize('variant, alpha', [('release', 8.0), ('masking', None)])
@pytest.mark.parametrize('seed', range(4))
def test_matches_per_image_reference_on_random_inputs(seed, variant, alpha):
    probs = random_probs(batch=3, classes=7, seed=seed, scale=1.0 + seed)
    valid = torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(seed)) > 0.2
    result = CSLSelector(variant=variant, alpha=alpha)(probs, valid)
    expected = reference_csl(probs, valid, variant=variant, alpha=alpha)
    for name, value in expected.items():
        ours = getattr(result, name)
        if ours.dim() == 3:
            ours, value = ours[valid], value[valid]
        torch.testing.assert_close(ours, value, atol=1e-9, rtol=0)


def test_exact_residual_is_textbook_variance_of_residual_classes():
    probs = random_probs(batch=1, classes=6, height=4, width=5)
    result = CSLSelector(residual='exact', g_alpha=0.5)(probs)
    flat = probs[0].reshape(6, -1).T  # (N, K)
    expected = []
    for p in flat:
        top = p.argmax()
        rest = torch.cat((p[:top], p[top + 1:]))
        variance = rest.var(unbiased=False)
        expected.append(0.5 * 25 / (2 * (1 - p[top] + 1e-8)) * variance)
    torch.testing.assert_close(result.res_var.flatten(), torch.stack(expected))


def test_float32_keeps_residual_variance_of_confident_pixels():
    # Non-max mass of 1e-6: sum(p^2) - max^2 would cancel in float32.
    logits = torch.zeros(1, 21, 4, 4, dtype=torch.float64)
    logits[:, 3] = 16.0
    logits[:, 5] += torch.linspace(0, 2, 16).view(4, 4)
    probs = logits.softmax(dim=1)
    reference = CSLSelector()(probs).res_var
    single = CSLSelector()(probs.float()).res_var.double()
    assert (single - reference).abs().max() < 1e-4 * reference.abs().max() + 1e-9


def test_ties_take_first_class_and_count_as_residual():
    probs = torch.full((1, 4, 2, 2), 0.25, dtype=torch.float64)
    result = CSLSelector()(probs)
    assert (result.pseudo_label == 0).all()
    # three residual classes of 0.25 with mean 0.25: exact variance 0, reference
    # counts the zeroed max slot, (0 - 0.25)^2 / 3.
    expected = 9 / (2 * 0.75) * (0.25 ** 2 / 3)
    torch.testing.assert_close(result.res_var, torch.full((1, 2, 2), expected,
                                                          dtype=torch.float64))
    assert torch.isfinite(result.weight).all()


@pytest.mark.parametrize('variant', VARIANTS)
def test_no_valid_pixel_gives_zero_weights_and_default_centre(variant):
    probs = random_probs()
    valid = torch.zeros(2, 12, 10, dtype=torch.bool)
    valid[1, :3] = True
    result = CSLSelector(variant=variant)(probs, valid)
    assert (result.weight[0] == 0).all() and not result.reliable[0].any()
    torch.testing.assert_close(result.center[0], torch.tensor([1.0, 0.0],
                                                              dtype=torch.float64))
    torch.testing.assert_close(result.center_var[0], torch.ones(2, dtype=torch.float64))
    assert result.weight[1].sum() > 0


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('case', ['identical', 'single', 'two_points'])
def test_degenerate_images_give_finite_weights(case, variant):
    probs = random_probs(batch=1)
    valid = torch.ones(1, 12, 10, dtype=torch.bool)
    if case == 'identical':
        probs[:] = probs[:, :, :1, :1]
    elif case == 'single':
        valid[:] = False
        valid[0, 5, 5] = True
    else:
        valid[:] = False
        valid[0, 0, 0] = valid[0, 1, 1] = True
    result = CSLSelector(variant=variant)(probs, valid)
    assert torch.isfinite(result.weight).all()
    assert ((result.weight >= 0) & (result.weight <= 1)).all()
    assert (result.weight[~valid] == 0).all()
    assert torch.isfinite(result.center).all()
    assert torch.isfinite(result.center_var).all()
    assert result.reliable.any()


@pytest.mark.parametrize('variant', VARIANTS)
def test_empty_cluster_is_never_reliable(variant):
    # Identical pixels are one point: the split leaves a cluster empty. Its mean
    # of 0 must not be taken for the reliable centre (it would beat log c < 0).
    probs = random_probs(batch=2)
    probs[:] = probs[:, :, :1, :1]
    valid = torch.ones(2, 12, 10, dtype=torch.bool)
    valid[1, :, 3:] = False
    result = CSLSelector(variant=variant)(probs, valid)
    conf, var = points(result, variant)
    expected = torch.stack((conf[:, 0, 0], var[:, 0, 0]), dim=1)
    torch.testing.assert_close(result.center, expected)
    assert (result.center_var.abs() < 1e-12).all()
    assert torch.equal(result.reliable, valid)


@pytest.mark.parametrize('variant', VARIANTS)
def test_invalid_pixels_may_hold_zero_probabilities(variant):
    probs = random_probs(batch=2, classes=6)
    valid = torch.rand(2, 12, 10, generator=torch.Generator().manual_seed(3)) > 0.3
    zeroed = probs.masked_fill(~valid.unsqueeze(1), 0)
    selector = CSLSelector(variant=variant)
    result, expected = selector(zeroed, valid), selector(probs, valid)
    for name in ('weight', 'center', 'center_var'):
        value = getattr(result, name)
        assert torch.isfinite(value).all(), name
        torch.testing.assert_close(value, getattr(expected, name), msg=name)
    assert (result.weight[~valid] == 0).all()


@pytest.mark.parametrize('seed', range(3))
def test_masking_variant_with_two_classes_trusts_every_valid_pixel(seed):
    probs = random_probs(batch=3, classes=2, height=20, width=30, seed=seed,
                         scale=1.0 + 2 * seed)
    valid = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(seed)) > 0.1
    result = CSLSelector(variant='masking')(probs, valid)
    assert torch.equal(result.reliable, valid)
    assert torch.equal(result.weight, valid.double())
    # Not so with the release's features: the split leaves pixels to fall off.
    assert not CSLSelector()(probs, valid).reliable[valid].all()


def test_variant_sets_defaults_and_explicit_values_win():
    release, masking = CSLSelector(), CSLSelector(variant='masking')
    assert (release.variant, release.alpha, release.eps) == ('release', 2.0, 1e-8)
    assert (masking.variant, masking.alpha, masking.eps) == ('masking', 8.0, 1e-10)
    custom = CSLSelector(variant='masking', alpha=3.0, eps=1e-6)
    assert (custom.alpha, custom.eps) == (3.0, 1e-6)


def test_zero_variance_cluster_stays_finite():
    # Two groups of identical pixels: each cluster has zero variance.
    probs = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    probs[0, :, :2] = torch.tensor([0.98, 0.01, 0.01]).view(3, 1, 1)
    probs[0, :, 2:] = torch.tensor([0.40, 0.35, 0.25]).view(3, 1, 1)
    result = CSLSelector()(probs)
    assert torch.isfinite(result.weight).all()
    assert (result.center_var == 0).all()
    assert result.reliable[0, :2].all()
    assert (result.weight[0, 2:] < 1e-6).all()


def test_from_logits_applies_softmax():
    logits = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    from_logits = CSLSelector()(logits, from_logits=True)
    from_probs = CSLSelector()(logits.softmax(dim=1))
    torch.testing.assert_close(from_logits.weight, from_probs.weight)


def test_no_gradient_flows():
    probs = random_probs().requires_grad_()
    result = CSLSelector()(probs)
    assert not result.weight.requires_grad and not result.res_var.requires_grad


@pytest.mark.parametrize('mutate, message', [
    (lambda p: p * 0.9, 'sum to 1'),
    (lambda p: p - 0.5, r'\[0, 1\]'),
    (lambda p: torch.where(p > 0.5, float('nan'), p), 'NaN'),
    (lambda p: torch.where(p > 0.5, float('inf'), p), r'\[0, 1\]'),
])
def test_bad_probabilities_raise(mutate, message):
    with pytest.raises(ValueError, match=message):
        CSLSelector()(mutate(random_probs()))


def test_nan_logits_raise():
    logits = torch.randn(1, 3, 4, 4)
    logits[0, 0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        CSLSelector()(logits, from_logits=True)


def test_bad_shapes_and_types_raise():
    selector = CSLSelector()
    with pytest.raises(ValueError, match='K >= 2'):
        selector(torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r'\(B, K, H, W\)'):
        selector(torch.ones(3, 4, 4) / 3)
    with pytest.raises(ValueError, match='valid has shape'):
        selector(random_probs(), torch.ones(2, 12, 11, dtype=torch.bool))
    with pytest.raises(TypeError, match='bool'):
        selector(random_probs(), torch.ones(2, 12, 10))
    with pytest.raises(TypeError, match='floating point'):
        selector(torch.ones(1, 2, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match='meta'):
        selector(random_probs(), torch.ones(2, 12, 10, dtype=torch.bool, device='meta'))


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match='residual'):
        CSLSelector(residual='median')
    with pytest.raises(ValueError, match='alpha'):
        CSLSelector(alpha=0)
    with pytest.raises(ValueError, match=r"\('release', 'masking'\), got 'masked'"):
        CSLSelector(variant='masked')
    with pytest.raises(ValueError, match='eps'):
        CSLSelector(variant='masking', eps=0)
    with pytest.raises(ValueError, match='threshold'):
        ThresholdSelector(threshold=1.5)


def test_threshold_selector_selects_confident_pixels():
    probs = random_probs(scale=4.0)
    valid = torch.ones(2, 12, 10, dtype=torch.bool)
    valid[0, 0] = False
    result = ThresholdSelector(threshold=0.9)(probs, valid)
    confident = probs.amax(dim=1) >= 0.9
    assert torch.equal(result.reliable, confident & valid)
    assert torch.equal(result.weight, (confident & valid).double())
    chosen = result.max_conf[0][(confident & valid)[0]]
    torch.testing.assert_close(result.center[0, 0], chosen.mean())
    torch.testing.assert_close(result.center_var[0, 0], chosen.var())


def test_threshold_selector_with_nothing_selected_is_finite():
    probs = torch.full((1, 4, 3, 3), 0.25)
    result = ThresholdSelector()(probs)
    assert (result.weight == 0).all()
    torch.testing.assert_close(result.center, torch.tensor([[1.0, 0.0]]))


@pytest.mark.parametrize('cfg', [dict(type='CSLSelector'),
                                 dict(type='CSLSelector', variant='masking'),
                                 dict(type='ThresholdSelector')], ids=str)
def test_selectors_are_registered(cfg):
    selector = TASK_UTILS.build(cfg)
    result = selector(random_probs(dtype=torch.float32))
    assert result.weight.shape == (2, 12, 10)
