"""The wheel that ``setup.py`` builds holds the package and nothing else."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.tool_utils import REPO_ROOT

IGNORED = ('.git', '.venv', '__pycache__', '*.egg-info', 'build', 'dist', 'work_dirs',
           'data', '.mim', '_ext*.so', '.pytest_cache', '.ruff_cache')


def copy_checkout(destination: Path) -> None:
    """The files of the checkout that git does not ignore (what a clone with
    the current changes holds), so that building leaves the checkout alone:
    a build replaces the ``.mim`` links of an editable install by copies.
    Outside a git checkout, the tree without build outputs."""
    listed = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=REPO_ROOT, capture_output=True)
    if listed.returncode != 0:
        shutil.copytree(REPO_ROOT, destination,
                        ignore=shutil.ignore_patterns(*IGNORED))
        return
    for name in filter(None, listed.stdout.decode().split('\0')):
        source = REPO_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def test_wheel_holds_the_package_with_its_configs_and_tools_only(tmp_path):
    source, dist = tmp_path / 'src', tmp_path / 'dist'
    copy_checkout(source)
    env = dict(os.environ, MMSEG_CSL_WITH_OPS='0')  # no compiled kernels: fast
    subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
         '--no-index', '-q', '-w', str(dist), str(source)],
        env=env, check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob('mmseg_csl-*.whl')
    names = zipfile.ZipFile(wheel).namelist()

    top_level = {name.split('/')[0] for name in names}
    assert top_level == {'mmseg_csl', f"{wheel.name.rsplit('-', 3)[0]}.dist-info"}
    modules = {path.relative_to(source).as_posix()
               for path in (source / 'mmseg_csl').rglob('*.py')}
    assert modules <= set(names)
    mim = {name for name in names if name.startswith('mmseg_csl/.mim/')}
    shipped = {f'mmseg_csl/.mim/{path.relative_to(source).as_posix()}'
               for folder in ('configs', 'tools')
               for path in (source / folder).rglob('*')
               if path.is_file() and not path.name.startswith('.')}
    assert mim == shipped | {'mmseg_csl/.mim/model-index.yml'}
    assert not [name for name in names
                if name.split('/')[1] in ('tests', 'benchmarks')]
