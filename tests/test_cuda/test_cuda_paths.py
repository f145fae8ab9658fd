"""The CUDA path: the selector on a GPU (its CUDA kernels, where they are
built, and its PyTorch ops) against the released code's test vectors, the
CPU path and each other, and the training step on a GPU in float32,
bfloat16 and float16, alone and under mmengine's AmpOptimWrapper.

Marked ``cuda`` and skipped without a GPU; CI runs on CPU only.
``benchmarks/gpu/check.py`` runs them on a GPU machine (``pytest -m cuda``).
"""
import os

import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_csl  # noqa: F401
from mmseg_csl import CSLSelector
from mmseg_csl.ops import kernels_built
from tests.selector_vectors import (
    VECTORS,
    assert_matches_vectors,
    load_vectors,
    needs_vectors,
    on_cpu,
)
from tests.semi_utils import (
    REFERENCE_METHODS,
    amp_training_run,
    assert_finite_and_trains,
    make_semi_batch,
    semi_segmentor_cfg,
    training_step,
)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU'),
]
VARIANTS = tuple(CSLSelector.VARIANTS)
# The selector's two CUDA paths: the compiled CUDA kernels (where they are
# built; otherwise this path is the PyTorch one too) and PyTorch ops.
CUDA_PATHS = {'kernels': True, 'pytorch': False}
# Autocast dtypes of the training step; None: float32 without autocast.
STEP_DTYPES = {'float32': None, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def test_cuda_kernels_are_built_where_nvcc_was():
    """A GPU check built mmseg_csl with nvcc (MMSEG_CSL_WITH_CUDA=1): the
    kernels tested below must be the CUDA ones, not a silent fallback."""
    if os.getenv('MMSEG_CSL_WITH_CUDA') != '1':
        pytest.skip('mmseg_csl was not built with MMSEG_CSL_WITH_CUDA=1 here')
    assert kernels_built('cuda')


@needs_vectors
@pytest.mark.parametrize('cuda_path', CUDA_PATHS)
@pytest.mark.parametrize('variant, path', VECTORS)
def test_selector_on_cuda_matches_released_code(variant, path, cuda_path):
    probs, valid, expected = load_vectors(path)
    selector = CSLSelector(variant=variant, use_kernels=CUDA_PATHS[cuda_path])
    result = selector(probs.cuda(), valid.cuda())
    assert result.weight.is_cuda
    assert_matches_vectors(result, probs, valid, expected, variant)


def selector_inputs(seed=0):
    """Random (3, 21, 65, 67) probabilities in float64 (from an uncertain to
    a confident image), a tenth of the pixels invalid. No image is one-hot:
    there the reliable centre is c = 1 exactly, and the reliability of its
    pixels would hang on the last bit of each device's sums."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 21, 65, 67, generator=generator, dtype=torch.float64)
    logits *= torch.tensor([1.5, 3.0, 6.0], dtype=torch.float64).view(3, 1, 1, 1)
    valid = torch.rand(3, 65, 67, generator=generator) > 0.1
    return logits.softmax(dim=1), valid


@pytest.mark.parametrize('cuda_path', CUDA_PATHS)
@pytest.mark.parametrize('variant', VARIANTS)
def test_selector_on_cuda_equals_cpu_path_in_float64(variant, cuda_path):
    probs, valid = selector_inputs()
    cpu = CSLSelector(variant=variant)(probs, valid)
    selector = CSLSelector(variant=variant, use_kernels=CUDA_PATHS[cuda_path])
    cuda = on_cpu(selector(probs.cuda(), valid.cuda()))
    assert torch.equal(cuda.reliable, cpu.reliable)
    assert torch.equal(cuda.pseudo_label, cpu.pseudo_label)
    for name in ('weight', 'max_conf', 'res_var', 'center', 'center_var'):
        torch.testing.assert_close(getattr(cuda, name), getattr(cpu, name),
                                   atol=1e-10, rtol=1e-10, msg=name)


@pytest.mark.parametrize('cuda_path', CUDA_PATHS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize('variant', VARIANTS)
def test_selector_on_cuda_agrees_with_cpu_path_in_low_precision(variant, dtype,
                                                                 cuda_path):
    """Other reduction orders on the GPU: the same agreement the selector
    tests require of low-precision inputs against float64."""
    probs, valid = selector_inputs(seed=1)
    probs = probs.to(dtype)
    cpu = CSLSelector(variant=variant)(probs, valid)
    selector = CSLSelector(variant=variant, use_kernels=CUDA_PATHS[cuda_path])
    cuda = on_cpu(selector(probs.cuda(), valid.cuda()))
    assert cuda.weight.dtype == torch.float32 and torch.isfinite(cuda.weight).all()
    assert torch.equal(cuda.pseudo_label, cpu.pseudo_label)
    assert (cuda.reliable == cpu.reliable)[valid].double().mean() >= 0.999
    assert (cuda.weight - cpu.weight).abs().mean() < 1e-3


@pytest.mark.parametrize('dtype', STEP_DTYPES)
@pytest.mark.parametrize('method', sorted(REFERENCE_METHODS))
def test_training_step_on_cuda(method, dtype):
    torch.manual_seed(0)
    semi_train_cfg, masked_views = REFERENCE_METHODS[method]
    model = MODELS.build(semi_segmentor_cfg(**semi_train_cfg)).cuda().train()
    losses, logits_dtypes = training_step(
        model, make_semi_batch(masked_views=masked_views, seed=1), STEP_DTYPES[dtype])

    assert logits_dtypes == {STEP_DTYPES[dtype] or torch.float32}
    assert all(value.is_cuda for value in losses.values())
    assert model.last_selection.result.weight.is_cuda
    assert_finite_and_trains(model, losses)


@pytest.mark.parametrize('dtype', ['bfloat16', 'float16'])
def test_amp_optim_wrapper_trains_on_cuda(tmp_path, dtype):
    # float16's dynamic loss scale starts at 2^16 and may skip the first
    # steps (overflow), halving the scale each time: 5 iterations move.
    run = amp_training_run(tmp_path, dtype, max_iters=5)

    assert run['wrapper'] == 'AmpOptimWrapper'
    assert run['logits_dtypes'] == {getattr(torch, dtype)}
    assert len(run['outputs']) == 5
    for outputs in run['outputs']:
        assert all(torch.isfinite(torch.as_tensor(value)) for value in outputs.values())
    assert run['moved']
