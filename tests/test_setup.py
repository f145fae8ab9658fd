"""The wheel that ``setup.py`` builds holds the package and nothing else, and
the tools it installs run from the installed package alone."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Tuple

import pytest

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


@pytest.fixture(scope='module')
def built_wheel(tmp_path_factory) -> Tuple[Path, Path]:
    """The copied checkout and the wheel built from it."""
    root = tmp_path_factory.mktemp('wheel')
    source, dist = root / 'src', root / 'dist'
    copy_checkout(source)
    env = dict(os.environ, MMSEG_CSL_WITH_OPS='0')  # no compiled kernels: fast
    subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
         '--no-index', '-q', '-w', str(dist), str(source)],
        env=env, check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob('mmseg_csl-*.whl')
    return source, wheel


def test_wheel_holds_the_package_with_its_configs_and_tools_only(built_wheel):
    source, wheel = built_wheel
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


# Shell scripts of tools/ without a --help: the launchers print their usage on
# too few arguments and hand everything else to train.py or test.py (which the
# test runs), and setup_env.sh installs. Their syntax is checked instead.
SHELL_TOOLS = ('dist_test.sh', 'dist_train.sh', 'setup_env.sh', 'slurm_test.sh',
               'slurm_train.sh')


def test_every_tool_answers_help_from_an_installed_copy(built_wheel, tmp_path):
    """Each Python script of the installed ``mmseg_csl/.mim/tools`` runs with
    the installed package and the environment's libraries only: run from
    another folder, with no checkout on the path."""
    _, wheel = built_wheel
    target, elsewhere = tmp_path / 'installed', tmp_path / 'elsewhere'
    elsewhere.mkdir()
    subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q',
         '--target', str(target), str(wheel)],
        check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(target))
    probe = subprocess.run(
        [sys.executable, '-c',
         'import importlib.util, sys, mmseg_csl; print(mmseg_csl.__file__); '
         'print(importlib.util.find_spec("benchmarks")); print(*sys.path)'],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    package, benchmarks, path = probe.stdout.splitlines()
    assert Path(package).is_relative_to(target)
    assert benchmarks == 'None'
    # The environment may live inside the checkout (make's .venv): its own
    # folders are not the checkout's code.
    environment = Path(sys.prefix).resolve()
    assert not [entry for entry in path.split()
                if entry and Path(entry).resolve().is_relative_to(REPO_ROOT)
                and not Path(entry).resolve().is_relative_to(environment)]

    tools = target / 'mmseg_csl' / '.mim' / 'tools'
    scripts = sorted(tools.rglob('*.py'))
    assert {script.name for script in scripts} >= {'train.py', 'test.py', 'demo.py'}
    for script in scripts:
        result = subprocess.run([sys.executable, str(script), '--help'],
                                cwd=elsewhere, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0 and 'usage:' in result.stdout, (
            f'{script.relative_to(tools)}:\n{result.stdout}{result.stderr}')
    assert sorted(script.name for script in tools.rglob('*.sh')) == list(SHELL_TOOLS)
    for name in SHELL_TOOLS:
        subprocess.run(['bash', '-n', str(tools / name)], check=True)
