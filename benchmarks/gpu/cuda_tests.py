"""Part 1 of the GPU check: ``pytest -m cuda tests/test_cuda``, one row per test."""
import os.path as osp
import sys
import xml.etree.ElementTree as ElementTree
from typing import Dict, List

from benchmarks.gpu.processes import run_logged


def run_cuda_tests(out: str, timeout_s: float) -> List[List[str]]:
    """Rows (test, passed / run, failures) of ``pytest -m cuda tests/test_cuda``."""
    xml_path = osp.join(out, 'cuda_tests.xml')
    command = [sys.executable, '-m', 'pytest', '-m', 'cuda', 'tests/test_cuda', '-q',
               '-p', 'no:cacheprovider', f'--junitxml={xml_path}']
    code, seconds = run_logged(command, osp.join(out, 'cuda_tests.log'), timeout_s)
    if not osp.isfile(xml_path):
        return [['pytest -m cuda', f'no result (exit {code})', 'see cuda_tests.log']]
    groups: Dict[str, List[int]] = {}
    failures: Dict[str, List[str]] = {}
    skipped_reasons = set()
    for case in ElementTree.parse(xml_path).getroot().iter('testcase'):
        name = case.get('name', '')
        function, _, params = name.partition('[')
        counts = groups.setdefault(function, [0, 0, 0])  # passed, failed, skipped
        if case.find('skipped') is not None:
            counts[2] += 1
            skipped_reasons.add(case.find('skipped').get('message', ''))
        elif case.find('failure') is not None or case.find('error') is not None:
            counts[1] += 1
            failures.setdefault(function, []).append(params.rstrip(']') or name)
        else:
            counts[0] += 1
    rows = []
    for function, (passed, failed, skipped) in groups.items():
        note = ', '.join(failures.get(function, []))
        if skipped:
            note = (note + '; ' if note else '') + f'{skipped} skipped'
        rows.append([function, f'{passed} / {passed + failed}',
                     'FAILED: ' + note if failed else note or 'ok'])
    total = [sum(counts[i] for counts in groups.values()) for i in range(3)]
    rows.append(['all CUDA tests', f'{total[0]} / {total[0] + total[1]}',
                 f'{seconds:.0f} s' + (f'; skipped: {sorted(skipped_reasons)}'
                                       if total[2] else '')])
    return rows
