"""The compiled CPU kernels of the selector against its PyTorch definition."""
import pytest
import torch

from mmseg_csl import CSLSelector, ThresholdSelector
from mmseg_csl.ops import kernels_built

VARIANTS = tuple(CSLSelector.VARIANTS)

def selectors(selector_type, **kwargs):
    return (selector_type(use_kernels=True, **kwargs),
            selector_type(use_kernels=False, **kwargs))


def random_case(batch, classes, height, width, dtype, seed, invalid=0.1):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, height, width, generator=generator,
                         dtype=torch.float64) * (1 + 3 * torch.rand(
                             batch, 1, height, width, generator=generator,
                             dtype=torch.float64))
    valid = torch.rand(batch, height, width, generator=generator) >= invalid
    return logits.softmax(dim=1).to(dtype), valid


def test_cpu_kernels_are_built():
    # The project's set-up builds them; a failed build must not pass unnoticed
    # as the (slower) PyTorch path.
    assert kernels_built()


def assert_same_selection(fused, eager, tolerance):
    for name in ('weight', 'max_conf', 'res_var', 'center', 'center_var'):
        torch.testing.assert_close(getattr(fused, name), getattr(eager, name),
                                   atol=tolerance, rtol=tolerance, msg=name)
    assert torch.equal(fused.pseudo_label, eager.pseudo_label)
    assert torch.equal(fused.reliable, eager.reliable)


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('residual', ['reference', 'exact'])
@pytest.mark.parametrize('shape', [(3, 7, 12, 10), (2, 21, 181, 191), (1, 2, 1, 1)],
                         ids=str)
def test_kernels_match_pytorch_in_float64(shape, residual, variant):
    # (2, 21, 181, 191) has several pixel blocks a task, the last one partial.
    probs, valid = random_case(*shape, torch.float64, seed=sum(shape))
    fused, eager = (s(probs, valid) for s in selectors(
        CSLSelector, variant=variant, alpha=3.0, residual=residual, g_alpha=0.7))
    assert_same_selection(fused, eager, 1e-10)


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('case', ['identical', 'no_valid', 'single', 'zeroed'])
def test_kernels_match_pytorch_on_degenerate_images(case, variant):
    # 'identical' leaves a cluster empty; 'zeroed' gives the invalid pixels
    # all-zero probabilities (log c = -inf, r = 0).
    probs, valid = random_case(3, 5, 8, 9, torch.float64, seed=11, invalid=0.3)
    if case == 'identical':
        probs[:] = probs[:, :, :1, :1]
    elif case == 'no_valid':
        valid[1] = False
    elif case == 'single':
        valid[2] = False
        valid[2, 4, 4] = True
    else:
        probs.masked_fill_(~valid.unsqueeze(1), 0)
    fused, eager = (s(probs, valid) for s in selectors(CSLSelector, variant=variant))
    assert_same_selection(fused, eager, 1e-12)
    assert torch.isfinite(fused.weight).all() and torch.isfinite(fused.center).all()


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
def test_kernels_match_pytorch_in_low_precision(dtype, variant):
    probs, valid = random_case(4, 19, 64, 96, dtype, seed=3)
    fused, eager = (s(probs, valid) for s in selectors(CSLSelector, variant=variant))
    assert fused.weight.dtype == eager.weight.dtype == torch.float32
    assert torch.equal(fused.pseudo_label, eager.pseudo_label)
    assert torch.equal(fused.max_conf, eager.max_conf)
    torch.testing.assert_close(fused.res_var, eager.res_var, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused.center, eager.center, rtol=1e-4, atol=1e-5)
    agreement = (fused.reliable == eager.reliable).double().mean().item()
    assert agreement >= 0.9999
    torch.testing.assert_close(fused.weight, eager.weight, rtol=0, atol=1e-3)


def test_kernels_read_non_contiguous_input():
    probs, valid = random_case(2, 5, 9, 11, torch.float64, seed=5)
    transposed = probs.transpose(2, 3).contiguous().transpose(2, 3)
    assert not transposed.is_contiguous()
    fused, eager = (s(transposed, valid) for s in selectors(CSLSelector))
    torch.testing.assert_close(fused.weight, eager.weight, atol=1e-12, rtol=0)


def test_threshold_selector_features_match():
    probs, valid = random_case(2, 6, 20, 30, torch.float32, seed=8)
    fused, eager = (s(probs, valid) for s in selectors(ThresholdSelector,
                                                      threshold=0.6))
    assert torch.equal(fused.weight, eager.weight)
    torch.testing.assert_close(fused.res_var, eager.res_var, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fused.center, eager.center)


@pytest.mark.parametrize('use_kernels', [True, False])
def test_sum_error_names_the_pixel(use_kernels):
    probs, valid = random_case(2, 4, 5, 6, torch.float64, seed=1, invalid=0)
    probs[1, :, 3, 2] *= 0.5
    with pytest.raises(ValueError, match=r'image 1, pixel \(3, 2\) sums to 0\.5'):
        CSLSelector(use_kernels=use_kernels)(probs, valid)
    valid[1, 3, 2] = False  # an invalid pixel may hold anything in [0, 1]
    CSLSelector(use_kernels=use_kernels)(probs, valid)
