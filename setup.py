"""Install mmseg_csl, an MMSegmentation 1.x plugin for semi-supervised segmentation."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(ROOT, 'mmseg_csl', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(ROOT, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension() -> None:
    """Expose ``configs/``, ``tools/`` and ``model-index.yml`` as
    ``mmseg_csl/.mim/`` so that ``mmseg_csl::`` config prefixes and
    ``mim train mmseg_csl`` resolve.

    Editable installs link the folders, regular builds copy them.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'install', 'build'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(ROOT, 'mmseg_csl', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src, dst = osp.join(ROOT, name), osp.join(mim_path, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isfile(src):
            shutil.copyfile(src, dst)
        else:
            shutil.copytree(src, dst)


def compiled_extensions() -> dict:
    """Arguments of ``setup()`` that build the compiled kernels of
    ``mmseg_csl/ops/csrc`` into ``mmseg_csl._ext``: CPU kernels, and CUDA kernels
    where the CUDA toolkit and a CUDA build of torch are there.

    They need torch at build time (``pip install --no-build-isolation
    --use-pep517``: without the second flag, setuptools' legacy ``develop`` hands
    the build to an isolated environment without torch) and a C++ compiler (and
    nvcc for CUDA). ``MMSEG_CSL_WITH_OPS=0`` skips them, and the package then
    computes everything with PyTorch ops (slower). ``MMSEG_CSL_WITH_CUDA=0``
    builds the CPU kernels only, ``=1`` requires the CUDA kernels; unset, they are
    built when nvcc is found (``CUDA_HOME``) and torch was built with CUDA, with
    or without a visible GPU (``TORCH_CUDA_ARCH_LIST`` picks the GPUs).
    """
    if os.getenv('MMSEG_CSL_WITH_OPS', '1') == '0':
        return {}
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError:
        print('mmseg_csl: torch is not importable at build time, so the compiled '
              'kernels are not built; install with --no-build-isolation '
              '--use-pep517 after torch to build them', file=sys.stderr)
        return {}
    sources = ['mmseg_csl/ops/csrc/csl_selection.cpp']
    cxx_flags = ['-O3', '-fno-trapping-math', '-fopenmp']
    with_cuda = os.getenv('MMSEG_CSL_WITH_CUDA')
    if with_cuda is None:
        with_cuda = cpp_extension.CUDA_HOME is not None and \
            torch.version.cuda is not None
    else:
        with_cuda = with_cuda == '1'
    if with_cuda:
        extension = cpp_extension.CUDAExtension(
            'mmseg_csl._ext', sources + ['mmseg_csl/ops/csrc/csl_selection_cuda.cu'],
            define_macros=[('WITH_CUDA', None)],
            extra_compile_args={'cxx': cxx_flags, 'nvcc': ['-O3']},
            extra_link_args=['-fopenmp'])
    else:
        extension = cpp_extension.CppExtension(
            'mmseg_csl._ext', sources, extra_compile_args=cxx_flags,
            extra_link_args=['-fopenmp'])
    return dict(ext_modules=[extension],
                cmdclass={'build_ext': cpp_extension.BuildExtension.with_options(
                    use_ninja=True)})


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmseg_csl',
        version=read_version(),
        description='Semi-supervised semantic segmentation for MMSegmentation: '
        'Confidence Separable Learning (CSL, ICCV 2025)',
        long_description=open(osp.join(ROOT, 'README.md')).read(),
        long_description_content_type='text/markdown',
        keywords='computer vision, semantic segmentation, semi-supervised learning',
        license='Apache License 2.0',
        python_requires='>=3.8',
        # the package and its subpackages only (tests, benchmarks, tools and
        # configs are not packages of it; configs and tools ship as .mim)
        packages=find_packages(include=('mmseg_csl', 'mmseg_csl.*')),
        include_package_data=True,
        package_data={
            'mmseg_csl':
            ['.mim/configs/**/*', '.mim/tools/**/*', '.mim/model-index.yml']
        },
        install_requires=read_requirements('runtime'),
        extras_require={
            'tests': read_requirements('tests'),
            # the mmseg model families built from other OpenMMLab packages
            'mmdet': read_requirements('mmdet'),
            'mmpretrain': read_requirements('mmpretrain'),
            'zoo': read_requirements('mmdet') + read_requirements('mmpretrain'),
        },
        classifiers=[
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        zip_safe=False,
        **compiled_extensions(),
    )
