"""benchmarks/step_op_counts.py on the small backbone."""
import subprocess
import sys

import pytest

from tests.tool_utils import REPO_ROOT


@pytest.mark.timeout(600)
def test_every_phase_is_counted_and_the_backward_is_the_same(tmp_path):
    result = subprocess.run(
        [sys.executable, 'benchmarks/step_op_counts.py', '--smoke', '--iters', '2',
         '--crop', '33', '--out', str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split(' | ')[0].strip('| '): line.strip('| ').split(' | ')[1:]
            for line in result.stdout.splitlines() if line.startswith('| ')}
    assert rows['phase'] == ['csl', 'unimatch']
    for phase in ('labeled_and_weak_forward', 'pseudo_labels', 'strong_views',
                  'unsupervised_losses', 'update_params'):
        assert all(int(count) > 0 for count in rows[phase]), rows
    csl, unimatch = rows['update_params']
    assert csl == unimatch  # one backward graph for both methods
    # UniMatch's strong forward updates the running statistics, CSL's does not
    csl, unimatch = rows['unsupervised_losses']
    assert int(csl) < int(unimatch)
