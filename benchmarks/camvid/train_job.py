"""Train one config, then score it on its test split with per-class IoU.

    python -m benchmarks.camvid.train_job CONFIG RESULT.json

Run from the repository root, one process per run (benchmarks/camvid/run.py
starts it), so that the peak memory it reports is the run's own. The config's
``work_dir`` receives mmengine's logs and checkpoints. RESULT.json gets the test
scores (``mIoU``, ``aAcc``, ``class_iou`` by class name, in %; ``test_frames``),
the wall times of training (validation included) and testing in seconds, the
median of the iteration times that the logger recorded (``iter_s``), the peak
resident memory of this process (``peak_rss_mib``, from ``ru_maxrss``) and the
log folder.
"""
import argparse
import json
import resource
import statistics
import time
from typing import List, Optional

from mmengine.config import Config
from mmengine.runner import Runner

import mmseg_csl  # noqa: F401  (registers the package's components)
from mmseg_csl.analysis import score_test_split
from mmseg_csl.utils import read_log_scalars


def logged_iteration_times(log_dir: str) -> List[float]:
    """The ``time`` values of the training log records (seconds per
    iteration, each averaged over one logging interval)."""
    return [record['time'] for record in read_log_scalars(log_dir)
            if 'loss' in record]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('result', help='JSON file to write')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    runner = Runner.from_cfg(Config.fromfile(args.config))
    start = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = score_test_split(runner)
    test_s = time.perf_counter() - start
    iteration_times = logged_iteration_times(runner.log_dir)
    result = dict(
        scores,
        train_s=train_s,
        test_s=test_s,
        iter_s=statistics.median(iteration_times) if iteration_times else None,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        log_dir=runner.log_dir)
    with open(args.result, 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
