"""``import mmseg_csl`` registers the package's components and changes nothing
else: a plain mmseg config trains, loads checkpoints and reports its errors
exactly as in a process without it (``tests/plain_mmseg_run.py``, run once
with and once without the import)."""
import json
import os
import subprocess
import sys

from tests.tool_utils import REPO_ROOT


def observe(out_dir, import_mmseg_csl: bool) -> dict:
    out_dir.mkdir()
    command = [sys.executable, '-m', 'tests.plain_mmseg_run', str(out_dir)]
    if import_mmseg_csl:
        command.append('--import-mmseg-csl')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((out_dir / 'observed.json').read_text())


def test_plain_mmseg_behaves_the_same_after_the_import(tmp_path):
    without = observe(tmp_path / 'without', import_mmseg_csl=False)
    with_import = observe(tmp_path / 'with', import_mmseg_csl=True)

    # No mmseg or mmengine registry entry replaced, no mmcv name shadowed.
    assert with_import.pop('registries') == {'changed': [], 'shadowing': []}
    # Two iterations of a zoo model through mmcv's RandomGrayscale: the same
    # losses, bit for bit; mmengine's checkpoint loader and the empty-split
    # error of mmseg's datasets as they are without the import.
    assert len(without['losses']) == 2
    assert with_import == without
