"""The selector's CUDA kernels (``mmseg_csl/ops/csrc/csl_selection_cuda.cu``)
built for CPU threads, for tests on machines without a GPU.

:func:`emulated_cuda_kernels` compiles the kernel source with
``cuda_emulation.h`` in place of the CUDA headers, each
``kernel<<<grid, threads, bytes, stream>>>(...)`` rewritten into a call of
``emulated_launch``, and returns a module with the two host functions of the
source, ``confidence_features_cuda`` and ``csl_weights_cuda``, which then take
CPU tensors. What this tests is the kernels' arithmetic, indexing, block
partition and fixed-order reductions; not CUDA's compiler, memory model or
speed, which only a GPU run shows (``benchmarks/gpu/check.py``).
"""
import os
import os.path as osp
import re
import shutil
import sys
from types import ModuleType

HERE = osp.dirname(osp.abspath(__file__))
CSRC = osp.join(osp.dirname(osp.dirname(HERE)), 'mmseg_csl', 'ops', 'csrc')
KERNEL_SOURCE = osp.join(CSRC, 'csl_selection_cuda.cu')
LAUNCH = re.compile(r'(\w+(?:<\w+>)?)<<<(.*?)>>>\(')
CUDA_INCLUDE = re.compile(r'^#include <c10/cuda/.*>\n', re.MULTILINE)
BINDINGS = '''
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("confidence_features_cuda", &csl::confidence_features_cuda);
  m.def("csl_weights_cuda", &csl::csl_weights_cuda);
}
'''


def emulated_source(source: str) -> str:
    """The CUDA kernel source rewritten for :file:`cuda_emulation.h`."""
    if not LAUNCH.search(source):
        raise ValueError(f'no kernel launch found in {KERNEL_SOURCE}')
    rewritten = LAUNCH.sub(r'emulated_launch(\2, \1, ', source)
    rewritten = CUDA_INCLUDE.sub('', rewritten)
    return '#include "cuda_emulation.h"\n' + rewritten + BINDINGS


def emulated_cuda_kernels(build_dir: str) -> ModuleType:
    """Build (in ``build_dir``) and load the emulated CUDA kernels."""
    from torch.utils.cpp_extension import load
    if shutil.which('ninja') is None:  # the environment's, where pip put it
        os.environ['PATH'] = os.pathsep.join((osp.dirname(sys.executable),
                                              os.environ['PATH']))
    with open(KERNEL_SOURCE) as f:
        source = emulated_source(f.read())
    path = osp.join(build_dir, 'csl_selection_emulated.cpp')
    with open(path, 'w') as f:
        f.write(source)
    return load(name='csl_selection_emulated', sources=[path],
                extra_include_paths=[HERE, CSRC], extra_cflags=['-O1'],
                build_directory=build_dir, verbose=False)
