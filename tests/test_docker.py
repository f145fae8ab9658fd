"""docker/Dockerfile, checked without a Docker engine: it parses, what it copies
exists, and the versions it installs are those the package requires."""
import re
import shlex
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / 'docker' / 'Dockerfile'
INSTRUCTIONS = {
    'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK',
    'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME',
    'WORKDIR'
}
# The packages whose versions the image pins, by their name in pip commands.
PINNED = ('torch', 'mmcv', 'mmengine', 'mmsegmentation')


def dockerfile_instructions(text: str) -> List[Tuple[str, str]]:
    """(keyword, arguments) of every instruction; comment lines are dropped and
    lines ending in a backslash continue on the next line."""
    instructions, pending = [], ''
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith('#')):
            continue
        if stripped.startswith('#'):  # a comment inside a continued instruction
            continue
        if stripped.endswith('\\'):
            pending += stripped[:-1] + ' '
            continue
        keyword, _, arguments = (pending + stripped).partition(' ')
        instructions.append((keyword, arguments.strip()))
        pending = ''
    if pending:
        raise ValueError(f'the Dockerfile ends inside a continued line: {pending!r}')
    return instructions


def build_arguments(instructions: List[Tuple[str, str]]) -> Dict[str, str]:
    """Default values of the ARG instructions."""
    defaults = {}
    for keyword, arguments in instructions:
        if keyword == 'ARG' and '=' in arguments:
            name, value = arguments.split('=', 1)
            defaults[name] = value
    return defaults


def pinned_versions(instructions: List[Tuple[str, str]]) -> Dict[str, Version]:
    """Exact versions (``name==version``) that the RUN instructions install,
    with ``${ARG}`` replaced by the ARG defaults."""
    defaults = build_arguments(instructions)
    versions = {}
    for keyword, arguments in instructions:
        if keyword != 'RUN':
            continue
        command = re.sub(r'\$\{(\w+)\}', lambda match: defaults[match.group(1)],
                         arguments)
        for word in shlex.split(command):
            match = re.fullmatch(r'([A-Za-z0-9_.-]+)==([^\s;]+)', word)
            if match:
                versions[match.group(1).lower()] = Version(match.group(2))
    return versions


def base_image(instructions: List[Tuple[str, str]]) -> str:
    return next(arguments for keyword, arguments in instructions if keyword == 'FROM')


def runtime_requirements() -> Dict[str, Requirement]:
    lines = (REPO_ROOT / 'requirements' / 'runtime.txt').read_text().splitlines()
    requirements = [Requirement(line.split('#', 1)[0]) for line in lines
                    if line.split('#', 1)[0].strip()]
    return {requirement.name.lower(): requirement for requirement in requirements}


@pytest.fixture(scope='module')
def instructions() -> List[Tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text())


def test_every_instruction_is_a_dockerfile_instruction(instructions):
    unknown = [keyword for keyword, _ in instructions if keyword not in INSTRUCTIONS]
    assert not unknown, f'unknown Dockerfile instructions: {unknown}'
    assert instructions[0][0] in ('FROM', 'ARG'), 'a Dockerfile starts with FROM'
    assert 'devel' in base_image(instructions), 'a CUDA devel image is the base'


def test_the_parser_rejects_an_unfinished_continuation():
    with pytest.raises(ValueError, match='continued line'):
        dockerfile_instructions('FROM ubuntu\nRUN echo \\\n')


def test_every_copied_file_exists_in_the_repository(instructions):
    sources = [
        source for keyword, arguments in instructions if keyword == 'COPY'
        for source in shlex.split(arguments)[:-1] if not source.startswith('--')
    ]
    assert sources, 'the image copies the package'
    missing = [source for source in sources if not (REPO_ROOT / source).exists()]
    assert not missing, f'COPY sources missing from the repository: {missing}'
    assert {'setup.py', 'mmseg_csl', 'requirements'} <= set(sources)


def test_the_copied_sources_are_not_ignored_by_dockerignore(instructions):
    ignored = {
        line.strip() for line in (REPO_ROOT / '.dockerignore').read_text().splitlines()
        if line.strip() and not line.startswith('#')
    }
    sources = {
        source for keyword, arguments in instructions if keyword == 'COPY'
        for source in shlex.split(arguments)[:-1]
    }
    assert not sources & ignored
    assert {'.venv', '.git', 'data'} <= ignored, 'the build context leaves bulk out'


def test_pinned_versions_satisfy_the_package_requirements(instructions):
    versions = pinned_versions(instructions)
    assert set(PINNED) <= set(versions), f'unpinned: {set(PINNED) - set(versions)}'
    requirements = runtime_requirements()
    for name in PINNED:
        specifier = requirements[name].specifier
        assert specifier.contains(versions[name], prereleases=True), \
            f'{name}=={versions[name]} is outside {requirements[name]}'
    # mmseg 1.2.2 refuses mmcv 2.2 at import; the image takes mmengine 0.10.x.
    assert Version('2.0.0rc4') <= versions['mmcv'] < Version('2.2.0')
    assert versions['mmengine'].release[:2] == (0, 10)
    assert versions['mmsegmentation'] == Version('1.2.2')


def test_mmcv_comes_from_the_openmmlab_wheels_of_the_pinned_torch(instructions):
    versions = pinned_versions(instructions)
    run_text = ' '.join(arguments for keyword, arguments in instructions
                        if keyword == 'RUN')
    match = re.search(r'download\.openmmlab\.com/mmcv/dist/cu(\d+)/torch([\d.]+)/'
                      r'index\.html', run_text)
    assert match, 'mmcv is installed from OpenMMLab\'s wheel index'
    torch_minor = '.'.join(str(part) for part in versions['torch'].release[:2])
    assert match.group(2).startswith(torch_minor)
    assert f'whl/cu{match.group(1)}' in run_text, \
        'torch is installed for the CUDA version of the mmcv wheels'
    cuda = re.search(r'cuda:(\d+)\.(\d+)', base_image(instructions))
    assert cuda and f'{cuda.group(1)}{cuda.group(2)}' == match.group(1)
