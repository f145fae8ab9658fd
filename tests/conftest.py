"""Settings of the whole test suite."""
import os

import pytest
import torch


def pytest_configure(config: pytest.Config) -> None:
    """Give each pytest-xdist worker its share of the cores, for its torch
    and, through ``OMP_NUM_THREADS``, for the processes its tests start:
    with as many threads per worker as there are cores, the workers
    oversubscribe the cores and wait on each other."""
    workers = os.environ.get('PYTEST_XDIST_WORKER_COUNT')
    if workers is None:
        return
    cpus = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
            else os.cpu_count() or 1)
    threads = max(1, cpus // int(workers))
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = str(threads)
    torch.set_num_threads(threads)
