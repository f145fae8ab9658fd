"""The selector's CUDA kernels, run on CPU by ``tests/cuda_emulation``, against
its CPU kernels: the same results from the same features, whatever the block
partition (several blocks an image, the last one partial) and on degenerate
images; and ``CSLSelector`` on them against the released code's test vectors.
A GPU run (``tests/test_cuda``) remains the test of the compiled CUDA."""
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from mmseg_csl import CSLSelector
from mmseg_csl.models.selectors import confidence_features, csl_selector
from mmseg_csl.ops import _ext, kernels_built
from tests.cuda_emulation import emulated_cuda_kernels
from tests.selector_vectors import (
    VECTORS,
    assert_matches_vectors,
    load_vectors,
    needs_vectors,
)
from tests.test_ops.test_csl_selection_kernels import random_case

pytestmark = pytest.mark.skipif(not kernels_built(),
                                reason='compared with the CPU kernels')

# (B, K, N): 3000 pixels are 12 blocks of the features kernel and 2 of the
# point kernels, the last one partial.
SHAPES = [(2, 7, 3000), (3, 5, 72), (1, 2, 1)]
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-6}


@pytest.fixture(scope='module')
def cuda_kernels(tmp_path_factory):
    return emulated_cuda_kernels(str(tmp_path_factory.mktemp('cuda_emulation')))


def flat_case(batch, classes, pixels, dtype, seed, invalid=0.1):
    """:func:`random_case`'s probabilities and validity as (B, K, N), (B, N)."""
    probs, valid = random_case(batch, classes, 1, pixels, dtype, seed, invalid)
    return probs.flatten(2), valid.flatten(1)


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('exact', [False, True])
@pytest.mark.parametrize('shape', SHAPES, ids=str)
def test_confidence_features_match_cpu_kernels(cuda_kernels, shape, exact, dtype):
    probs, valid = flat_case(*shape, dtype, seed=sum(shape))
    probs[-1, :, -1] = torch.nan  # the summary reports it
    emulated = cuda_kernels.confidence_features_cuda(probs, valid, exact, 0.7, 1e-8)
    cpu = _ext.confidence_features(probs, valid, exact, 0.7, 1e-8)
    names = ('max_conf', 'pseudo_label', 'res_var', 'residual_mass', 'summary')
    for name, got, expected in zip(names, emulated, cpu):
        torch.testing.assert_close(got, expected, rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype], equal_nan=True, msg=name)


def features_of(probs, valid, log_points):
    max_conf, _, res_var, mass, _ = _ext.confidence_features(probs, valid, False,
                                                             1.0, 1e-8)
    return (mass if log_points else max_conf), res_var


def assert_same_weights(emulated, cpu, dtype):
    for name, got, expected in zip(('weight', 'center', 'center_var'), emulated, cpu):
        torch.testing.assert_close(got, expected, rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype], msg=name)


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('log_points', [False, True])
@pytest.mark.parametrize('shape', SHAPES, ids=str)
def test_csl_weights_match_cpu_kernels(cuda_kernels, shape, log_points, dtype):
    probs, valid = flat_case(*shape, dtype, seed=sum(shape) + 1)
    x1, x2 = features_of(probs, valid, log_points)
    emulated = cuda_kernels.csl_weights_cuda(x1, x2, valid, 3.0, 1e-8, log_points)
    cpu = _ext.csl_weights(x1, x2, valid, 3.0, 1e-8, log_points)
    assert_same_weights(emulated, cpu, dtype)


@pytest.mark.parametrize('log_points', [False, True])
@pytest.mark.parametrize('case', ['identical', 'no_valid', 'single', 'zeroed'])
def test_csl_weights_match_cpu_kernels_on_degenerate_images(cuda_kernels, case,
                                                            log_points):
    # 'identical' leaves a cluster empty; 'zeroed' gives the invalid pixels
    # all-zero probabilities (residual mass 0 and log c = -inf there).
    probs, valid = flat_case(3, 5, 2500, torch.float64, seed=11, invalid=0.3)
    if case == 'identical':
        probs[:] = probs[:, :, :1]
    elif case == 'no_valid':
        valid[1] = False
    elif case == 'single':
        valid[2] = False
        valid[2, 2100] = True
    else:
        probs.masked_fill_(~valid.unsqueeze(1), 0)
    x1, x2 = features_of(probs, valid, log_points)
    emulated = cuda_kernels.csl_weights_cuda(x1, x2, valid, 8.0, 1e-10, log_points)
    cpu = _ext.csl_weights(x1, x2, valid, 8.0, 1e-10, log_points)
    assert_same_weights(emulated, cpu, torch.float64)
    assert all(torch.isfinite(t).all() for t in emulated)


@needs_vectors
@pytest.mark.parametrize('variant, path', VECTORS)
def test_selector_on_emulated_cuda_kernels_matches_released_code(
        cuda_kernels, monkeypatch, variant, path):
    calls = Counter()

    def counted(name):
        def kernel(*args):
            calls[name] += 1
            return getattr(cuda_kernels, f'{name}_cuda')(*args)
        return kernel

    # The selector takes the emulated CUDA kernels where it would take the
    # compiled ones of a CUDA tensor.
    ops = SimpleNamespace(confidence_features=counted('confidence_features'),
                          csl_weights=counted('csl_weights'))
    for module in (confidence_features, csl_selector):
        monkeypatch.setattr(module, 'kernels_for', lambda *tensors: ops)
    probs, valid, expected = load_vectors(path)
    result = CSLSelector(variant=variant)(probs, valid)
    assert calls == {'confidence_features': 1, 'csl_weights': 1}
    assert_matches_vectors(result, probs, valid, expected, variant)
