import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import List, NamedTuple

import pytest
from mmengine.config import Config

from tests.tool_utils import (
    dump_config,
    free_port,
    run_tool,
    start_tool,
    with_recorded_samples,
)


class DistRun(NamedTuple):
    """A ``tools/dist_train.sh CONFIG 2`` run: its output, work dir and the
    image paths each rank trained on, one list per iteration."""
    output: str
    work_dir: Path
    rank0: List[List[str]]
    rank1: List[List[str]]


def train_on_two_processes(config: str, tmp_path: Path) -> DistRun:
    recorded = with_recorded_samples(config, tmp_path / 'recorded.py')
    work_dir = tmp_path / 'work'
    result = run_tool(['dist_train.sh', recorded, '2', '--work-dir', work_dir],
                      env={'PORT': str(free_port())})
    rank0, rank1 = (json.loads((work_dir / f'samples_rank{rank}.json').read_text())
                    for rank in (0, 1))
    return DistRun(result.stdout, work_dir, rank0, rank1)


@pytest.fixture(scope='module')
def tiny_dist_run(tiny_config, tmp_path_factory) -> DistRun:
    return train_on_two_processes(tiny_config, tmp_path_factory.mktemp('dist'))


@pytest.fixture(scope='module')
def tiny_semi_dist_run(tiny_semi_config, tmp_path_factory) -> DistRun:
    return train_on_two_processes(tiny_semi_config,
                                  tmp_path_factory.mktemp('dist_semi'))


# Every config is trained once, by the fixture of its run.
@pytest.mark.parametrize('run', ['tiny_dist_run', 'tiny_semi_dist_run'])
def test_dist_train_on_cpu_ranks_see_different_samples(run, request):
    run = request.getfixturevalue(run)

    assert 'distributed run on CPU (gloo), rank 0 of 2' in run.output
    assert (run.work_dir / 'last_checkpoint').is_file()
    assert len(run.rank0) == len(run.rank1) > 0
    for paths0, paths1 in zip(run.rank0, run.rank1):
        assert paths0 and paths1
        assert not set(paths0) & set(paths1)


def test_semi_supervised_ranks_train_on_different_unlabeled_samples(
        tiny_semi_dist_run):
    run = tiny_semi_dist_run
    assert len(run.rank0) == 3  # iterations

    def unlabeled(iterations: List[List[str]]) -> List[List[str]]:
        return [[path for path in paths if Path(path).parts[-3] == 'unlabeled']
                for paths in iterations]

    unlabeled0, unlabeled1 = unlabeled(run.rank0), unlabeled(run.rank1)
    # Each rank's batch: 1 labeled image, 2 unlabeled ones (trained + CutMix source).
    assert all(len(paths) == 2 for paths in unlabeled0 + unlabeled1)
    assert all(len(paths) == 3 for paths in run.rank0 + run.rank1)
    # 3 iterations of 2 x 2 unlabeled images stay within one sampler epoch of
    # the 16: no image is seen twice, by either rank.
    seen0 = {path for paths in unlabeled0 for path in paths}
    seen1 = {path for paths in unlabeled1 for path in paths}
    assert len(seen0) == len(seen1) == 6
    assert not seen0 & seen1


def wait_until_stopped(process: subprocess.Popen, deadline: float) -> None:
    """Wait until ``process`` is stopped by a signal; fail if it exits or
    ``deadline`` (``time.monotonic()``) passes first."""
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WNOHANG | os.WUNTRACED)
        if pid:
            assert os.WIFSTOPPED(status), f'rank 1 ended with status {status}'
            return
        time.sleep(0.2)
    raise AssertionError('rank 1 did not stop')


def test_frozen_rank_stops_the_other_after_the_timeout(tiny_config, tmp_path):
    """Rank 1 of two gloo processes freezes (SIGSTOP) after iteration 2; rank
    0 stops within env_cfg.dist_cfg.timeout plus a margin, saying which rank
    waited, after which iteration, and on whom."""
    timeout, margin = 10, 20
    cfg = Config.fromfile(tiny_config)
    cfg.custom_imports.imports.append('tests.freeze_rank_hook')
    cfg.custom_hooks = [{'type': 'FreezeRankHook', 'rank': 1, 'iteration': 2}]
    cfg.train_cfg.update(max_iters=6, val_interval=6)
    cfg.env_cfg.dist_cfg.timeout = timeout
    config = dump_config(cfg, tmp_path / 'freeze.py')
    port = str(free_port())
    logs = [tmp_path / f'rank{rank}.log' for rank in (0, 1)]
    processes = []
    try:
        for rank, log in enumerate(logs):
            env = {'RANK': str(rank), 'LOCAL_RANK': str(rank), 'WORLD_SIZE': '2',
                   'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': port}
            with open(log, 'w') as output:
                processes.append(start_tool(
                    ['train.py', config, '--launcher', 'pytorch', '--work-dir',
                     tmp_path / 'work'], env=env, output=output))
        wait_until_stopped(processes[1], time.monotonic() + 150)
        stopped = time.monotonic()
        returncode = processes[0].wait(timeout=timeout + margin)
        waited = time.monotonic() - stopped
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = logs[0].read_text()
    assert returncode != 0
    assert timeout - 2 <= waited <= timeout + margin
    assert ('CollectiveTimeoutError: Rank 0 of 2 waited more than 10 s '
            '(env_cfg.dist_cfg.timeout) for rank(s) 1 in a collective operation '
            'after iteration 2, the last one it completed') in output
