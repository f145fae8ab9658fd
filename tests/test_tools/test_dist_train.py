import json

import pytest

from tests.tool_utils import free_port, run_tool, with_recorded_samples


# Names of fixtures that give a config file; every config is trained here.
@pytest.fixture(params=['tiny_config'])
def dist_config(request) -> str:
    return request.getfixturevalue(request.param)


def test_dist_train_on_cpu_ranks_see_different_samples(dist_config, tmp_path):
    config = with_recorded_samples(dist_config, tmp_path / 'recorded.py')
    work_dir = tmp_path / 'work'
    result = run_tool(['dist_train.sh', config, '2', '--work-dir', work_dir],
                      env={'PORT': str(free_port())})

    assert 'distributed run on CPU (gloo), rank 0 of 2' in result.stdout
    assert (work_dir / 'last_checkpoint').is_file()
    rank0, rank1 = (json.loads((work_dir / f'samples_rank{rank}.json').read_text())
                    for rank in (0, 1))
    assert len(rank0) == len(rank1) > 0
    for paths0, paths1 in zip(rank0, rank1):
        assert paths0 and paths1
        assert not set(paths0) & set(paths1)
