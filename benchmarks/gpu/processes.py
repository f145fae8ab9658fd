"""The GPU check's parts that run in processes of their own."""
import subprocess
import time
from typing import List, Optional

from benchmarks.gpu.configs import ROOT


def run_logged(command: List[str], log_path: str, timeout_s: float,
               env: Optional[dict] = None):
    """Run ``command`` in the repository root, its output to ``log_path``;
    returns (exit code or 'timeout', seconds)."""
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        try:
            code = subprocess.run(command, cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=max(1, timeout_s),
                                  env=env).returncode
        except subprocess.TimeoutExpired:
            code = 'timeout'
    return code, time.perf_counter() - start
