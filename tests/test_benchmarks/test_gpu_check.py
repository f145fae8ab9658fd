"""benchmarks/gpu/check.py on CPU: its training part on a small backbone
(--smoke), its selector part on a small input, its verdicts and its planning
of iterations. The check itself needs a GPU (benchmarks/gpu/README.md)."""
import argparse
import subprocess
import sys

import pytest

from benchmarks.gpu.report import (
    CARD_24GB_GIB,
    SELECTOR_HEADER,
    selector_rows,
    training_rows,
    training_verdicts,
)
from benchmarks.gpu.selector_timing import selector_timing
from benchmarks.gpu.step_timing import StepTimes
from benchmarks.gpu.training import planned_iterations
from tests.tool_utils import REPO_ROOT


def run(method, precision, iter_s, step_s=None, reserved=10.0, **extra):
    return dict(method=method, precision=precision, iter_s=iter_s,
                step_s=step_s or iter_s * 0.9, first_iter_s=5.0, iters=50,
                timed_iters=40, seconds=40.0, losses={'loss': 1.0},
                optim_wrapper='AmpOptimWrapper', steady_allocated_gib=reserved - 1,
                steady_reserved_gib=reserved, warmup_allocated_gib=reserved - 1,
                warmup_reserved_gib=reserved, **extra)


def test_verdicts_compare_csl_with_unimatch_and_a_24gb_card():
    results = [run('csl', 'bfloat16', 0.2095), run('unimatch', 'bfloat16', 0.20),
               run('csl', 'float32', 0.50, reserved=CARD_24GB_GIB),
               run('unimatch', 'float32', 0.40),
               dict(method='supervised', precision='bfloat16', error='exit 1')]
    verdicts = {row[0]: row[1:] for row in training_verdicts(results)}

    bf16 = verdicts['CSL / UniMatch time per iteration, bfloat16']
    assert bf16[0].startswith('1.047x') and bf16[1].endswith(': met')
    assert verdicts['CSL / UniMatch time per iteration, float32'][1].endswith('NOT met')
    assert verdicts['csl bfloat16 fits a 24 GB card'][0].startswith('yes: ')
    assert 'supervised bfloat16 fits a 24 GB card' not in verdicts
    rows = training_rows(results)
    assert rows[0][:2] == ['csl bfloat16', '0.209 s']
    assert rows[-1][1] == 'exit 1'


def test_rounds_pair_the_runs_of_a_round_and_report_the_median():
    results = [run('csl', 'bfloat16', 0.22, round=1, rounds=3),
               run('unimatch', 'bfloat16', 0.20, round=1, rounds=3),
               run('csl', 'bfloat16', 0.21, round=2, rounds=3),
               run('unimatch', 'bfloat16', 0.20, round=2, rounds=3),
               run('csl', 'bfloat16', 0.30, round=3, rounds=3),
               dict(method='unimatch', precision='bfloat16', round=3, rounds=3,
                    error='not run: out of time')]
    [ratio] = [row for row in training_verdicts(results)
               if row[0].startswith('CSL / UniMatch')]

    assert ratio[1].startswith('1.075x') and ratio[1].endswith(
        'median of 2 rounds: 1.100, 1.050')
    assert ratio[2].endswith('NOT met')
    assert [row[0] for row in training_rows(results)][:2] == [
        'csl bfloat16 #1', 'unimatch bfloat16 #1']


def test_memory_beyond_a_24gb_card_is_reported():
    verdicts = training_verdicts([run('csl', 'bfloat16', 0.2, reserved=23.0)])
    assert verdicts[0][1].startswith('NO: ')


def test_iterations_are_cut_to_the_time_left():
    args = argparse.Namespace(iters=50, warmup=10)
    assert planned_iterations([], 'bfloat16', 5.0, args) == 50  # nothing known yet
    done = [run('csl', 'bfloat16', 0.5)]  # 40 s for 50 iterations: 15 s fixed
    assert planned_iterations(done, 'bfloat16', 100.0, args) == 50
    assert planned_iterations(done, 'bfloat16', 30.0, args) == 30
    assert planned_iterations(done, 'float32', 30.0, args) == 15  # twice as slow
    assert planned_iterations(done, 'bfloat16', 20.0, args) is None


def test_step_times_leave_out_the_iterations_after_the_timed_ones():
    times = StepTimes(warmup=1, end=3)
    times.iter_end = [0.0, 5.0, 5.5, 6.0, 9.0]
    times.step_start = [0.1, 5.1, 5.6, 6.1]
    times.step_end = [4.9, 5.4, 5.9, 8.9]
    times.memory = [(70.0, 72.0), (4.0, 5.0), (4.1, 4.3), (9.0, 9.0)]
    summary = times.summary()
    assert summary['iter_s'] == pytest.approx(0.5)
    assert summary['timed_iters'] == 2
    assert summary['steady_reserved_gib'] == 5.0


def test_step_times_split_warmup_from_steady_peaks():
    """Per-iteration peaks (read before mmengine's logger resets them): the
    warm-up's (cuDNN benchmarking) apart from the steady ones."""
    times = StepTimes(warmup=2)
    times.iter_end = [0.0, 5.0, 5.5, 6.0, 6.4, 6.9]
    times.step_start = [0.1, 5.1, 5.6, 6.1, 6.5]
    times.step_end = [4.9, 5.4, 5.9, 6.3, 6.8]
    times.memory = [(70.0, 72.0), (4.0, 5.0), (4.1, 4.3), (4.2, 4.3), (4.0, 4.3)]
    summary = times.summary()
    assert summary['iter_s'] == pytest.approx(0.5)
    assert summary['step_s'] == pytest.approx(0.3)
    assert summary['first_iter_s'] == 5.0 and summary['timed_iters'] == 3
    peaks = {key: value for key, value in summary.items() if key.endswith('_gib')}
    assert peaks == {'warmup_allocated_gib': 70.0, 'warmup_reserved_gib': 72.0,
                     'steady_allocated_gib': 4.2, 'steady_reserved_gib': 4.3}
    assert 'steady_device_allocs' not in summary  # not read (no GPU)


def test_step_times_count_the_allocator_calls_after_the_first_steady_iteration():
    times = StepTimes(warmup=1, end=4)
    times.iter_end = [0.0, 5.0, 5.5, 6.0, 6.5, 9.0]
    times.step_start = [0.1, 5.1, 5.6, 6.1, 6.6]
    times.step_end = [4.9, 5.4, 5.9, 6.4, 8.9]
    times.memory = [(70.0, 72.0), (4.0, 5.0), (4.1, 4.3), (4.1, 4.3), (9.0, 9.0)]
    # cudaMalloc calls and retries so far, after each iteration; the first
    # steady one refills the cache, the last (profiled) one is left out.
    times.allocations = [(900, 0), (1200, 1), (1203, 1), (1207, 2), (1500, 9)]
    summary = times.summary()
    assert summary['steady_device_allocs'] == 7
    assert summary['steady_alloc_retries'] == 1
    row = training_rows([{**run('csl', 'bfloat16', 0.5), **summary}])[0]
    assert row[-1].endswith('steady iterations after the first: 7 cudaMalloc, '
                            '1 retries')


@pytest.mark.timeout(600)
def test_smoke_training_on_cpu(tmp_path):
    out = tmp_path / 'out'
    result = subprocess.run(
        [sys.executable, 'benchmarks/gpu/check.py', '--smoke', '--methods', 'csl',
         '--iters', '3', '--warmup', '1', '--rounds', '2', '--profile-iters', '1',
         '--out', str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    table = (out / 'gpu_check.md').read_text()
    rows = [line for line in table.splitlines() if line.startswith('| csl float32')]
    assert len(rows) == 2
    assert '3 it (2 timed)' in rows[0] and 'losses finite' in rows[0]
    assert '4 it (2 timed)' in rows[1]  # and one profiled
    assert (out / 'gpu_check.json').is_file()
    # the profile, in the last round only: each phase's host time
    assert not (out / 'train_csl_float32_round1_profile.txt').exists()
    profile = (out / 'train_csl_float32_round2_profile.txt').read_text()
    assert '| pseudo_labels | ' in profile and '| update_params | ' in profile
    # every phase of the step timed in the 2 timed iterations (no GPU: host only)
    phases = {line.split(' | ')[0].strip('| '): line for line in table.splitlines()
              if line.startswith('| ')}
    for phase in ('labeled_and_weak_forward', 'pseudo_labels', 'strong_views',
                  'unsupervised_losses', 'update_params'):
        assert phases[phase].count('n/a / ') == 2, phases[phase]


def test_selector_part_times_and_profiles_each_candidate_on_cpu():
    timing = selector_timing(2, device='cpu', batch=1, size=9, profile_calls=2)
    medians = timing['medians_ms']
    rows = selector_rows(timing)
    assert [row[0] for row in rows] == list(medians)
    assert {'probs.max(1)', 'CSLSelector release', 'CSLSelector masking',
            '  release, without the value check'} <= set(medians)
    assert all(len(row) == len(SELECTOR_HEADER) for row in rows)
    assert all(m['ms'] > 0 and m['device_ops'] > 0 for m in medians.values())
    # The compiled kernels are one operator each where PyTorch runs dozens.
    assert (medians['  release, PyTorch ops']['device_ops']
            > 5 * medians['CSLSelector release']['device_ops'])
