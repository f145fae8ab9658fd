"""The test vectors of the CSL selection: the selection code of each released
version of CSL run on fixed inputs, in float64.

They are not part of the repository. They are looked for in the folder that
``MMSEG_CSL_TESTVECTORS`` names (CI's script sets it), else in ``.testvectors``
at the repository root (the copy that ``benchmarks/gpu/prepare.sh`` makes to
carry to a GPU machine); tests that need them skip without them.
"""
import dataclasses
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The folder of each variant's vectors.
VECTOR_FOLDERS = {'release': 'csl_selection', 'masking': 'csl_selection_masking'}


def vector_root() -> str:
    """The folder holding :data:`VECTOR_FOLDERS` (see the module docstring)."""
    copy = osp.join(REPO_ROOT, '.testvectors')
    candidates = [os.environ.get('MMSEG_CSL_TESTVECTORS'), copy]
    found = [path for path in candidates if path and osp.isdir(path)]
    return osp.abspath(found[0] if found else copy)


VECTOR_ROOT = vector_root()
VECTORS = [
    pytest.param(variant, path, id=f'{variant}-{osp.basename(path)}')
    for variant, folder in VECTOR_FOLDERS.items()
    for path in sorted(glob.glob(osp.join(VECTOR_ROOT, folder, '*.npz')))
]
needs_vectors = pytest.mark.skipif(
    not VECTORS, reason=f'no test vectors under {VECTOR_ROOT} (set '
    'MMSEG_CSL_TESTVECTORS)')


def load_vectors(path):
    """(probs (B, K, H, W) float64, valid (B, H, W) bool, the npz file)."""
    data = np.load(path)
    probs = torch.from_numpy(data['probs'])
    valid = torch.from_numpy(data['ignore'] != 255)
    return probs, valid, data


def points(result, variant):
    """The clustered coordinates of a result, as the test vectors store them."""
    if variant == 'masking':
        return result.max_conf.log(), -result.res_var
    return result.max_conf, result.res_var


def on_cpu(result):
    """A SelectionResult with its tensors moved to the CPU."""
    return dataclasses.replace(result, **{
        field.name: getattr(result, field.name).cpu()
        for field in dataclasses.fields(result)
        if isinstance(getattr(result, field.name), torch.Tensor)})


def assert_matches_vectors(result, probs, valid, expected, variant, atol=1e-6):
    """A float64 selection of the vectors' ``probs`` (on any device) against
    the released code's outputs."""
    result = on_cpu(result)
    keep = valid.numpy()
    np.testing.assert_allclose(result.weight.numpy(), expected['weight'], atol=atol,
                               rtol=0)
    for name, value in zip(('max_conf', 'res_var'), points(result, variant)):
        np.testing.assert_allclose(value.numpy()[keep], expected[name][keep],
                                   atol=atol, rtol=0)
    for name in ('center', 'center_var'):
        np.testing.assert_allclose(getattr(result, name).numpy(), expected[name],
                                   atol=atol, rtol=0)
    assert torch.equal(result.reliable, (result.weight == 1) & valid)
    assert torch.equal(result.pseudo_label, probs.argmax(dim=1))
