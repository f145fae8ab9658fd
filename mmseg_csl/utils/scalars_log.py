"""Reading mmengine's scalar log (``<log_dir>/vis_data/scalars.json``: one
JSON record a line, the logged losses and times of a training step or the
metrics of a validation, with their ``step``)."""
import glob
import json
import os.path as osp
from typing import List


def read_log_scalars(log_dir: str) -> List[dict]:
    """The records of the scalar log of one log folder (``runner.log_dir``),
    in the order they were written."""
    with open(osp.join(log_dir, 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_scalars(work_dir: str) -> List[dict]:
    """The records of every log folder of a work dir (a resumed run has one
    per start), ordered by step."""
    records = []
    for log_dir in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data'))):
        records += read_log_scalars(osp.dirname(log_dir))
    return sorted(records, key=lambda record: record.get('step', 0))
