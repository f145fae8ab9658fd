from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mmseg_csl.engine import (
    CollectiveTimeoutError,
    collective_timeout_reported,
    set_default_collective_timeout,
)
from mmseg_csl.engine import collective_timeout as module
from mmseg_csl.engine.collective_timeout import (
    DEFAULT_COLLECTIVE_TIMEOUT,
    is_collective_timeout,
)

GLOO_TIMEOUT = ('[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] '
                'Timed out waiting 10000ms for recv operation to complete')
NCCL_TIMEOUT = ('[Rank 1] Watchdog caught collective operation timeout: '
                "WorkNCCL(SeqNum=8, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, "
                'Timeout(ms)=600000) ran for 600112 milliseconds before timing out.')


def test_default_timeout_is_set_unless_the_config_has_one():
    cfg = Config({'env_cfg': {'dist_cfg': {'backend': 'nccl'}}})
    set_default_collective_timeout(cfg)
    assert cfg.env_cfg.dist_cfg == {'backend': 'nccl',
                                    'timeout': DEFAULT_COLLECTIVE_TIMEOUT}
    cfg = Config({'env_cfg': {'dist_cfg': {'backend': 'gloo', 'timeout': 30}}})
    set_default_collective_timeout(cfg)
    assert cfg.env_cfg.dist_cfg.timeout == 30
    cfg = Config({})
    set_default_collective_timeout(cfg)
    assert cfg.env_cfg.dist_cfg.timeout == DEFAULT_COLLECTIVE_TIMEOUT


@pytest.mark.parametrize('timeout', [0, -5, '600', True])
def test_timeout_that_is_no_number_of_seconds_is_refused(timeout):
    cfg = Config({'env_cfg': {'dist_cfg': {'timeout': timeout}}})
    with pytest.raises(ValueError, match='env_cfg.dist_cfg.timeout must be a '
                       'positive number of seconds'):
        set_default_collective_timeout(cfg)


def test_timeout_errors_of_gloo_and_nccl_are_recognised(monkeypatch):
    monkeypatch.setattr(module, 'get_dist_info', lambda: (0, 2))
    assert is_collective_timeout(RuntimeError(GLOO_TIMEOUT))
    assert is_collective_timeout(RuntimeError(NCCL_TIMEOUT))
    assert not is_collective_timeout(RuntimeError('DataLoader timed out after 5 '
                                                  'seconds'))
    assert not is_collective_timeout(ValueError(GLOO_TIMEOUT))
    monkeypatch.setattr(module, 'get_dist_info', lambda: (0, 1))
    assert not is_collective_timeout(RuntimeError(GLOO_TIMEOUT))


def test_timeout_is_reported_with_rank_iteration_and_checkpoint(monkeypatch,
                                                                 tmp_path):
    monkeypatch.setattr(module, 'get_dist_info', lambda: (2, 4))
    checkpoint = tmp_path / 'iter_40.pth'
    checkpoint.write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(checkpoint))
    runner = SimpleNamespace(
        iter=41, work_dir=str(tmp_path),
        cfg=Config({'env_cfg': {'dist_cfg': {'timeout': 600}}}))
    with pytest.raises(CollectiveTimeoutError) as error:
        with collective_timeout_reported(runner):
            raise RuntimeError(GLOO_TIMEOUT)
    assert str(error.value).splitlines() == [
        'Rank 2 of 4 waited more than 600 s (env_cfg.dist_cfg.timeout) for '
        'rank(s) 0, 1, 3 in a collective operation after iteration 41, the last '
        'one it completed: another rank is frozen or gone (stopped, stuck '
        'reading data, out of memory, killed). The logs of the other ranks say '
        'more.',
        f'Last checkpoint: {checkpoint}; --resume continues from it once every '
        'rank runs.']
    assert isinstance(error.value.__cause__, RuntimeError)


def test_other_errors_pass_unchanged(monkeypatch):
    monkeypatch.setattr(module, 'get_dist_info', lambda: (0, 2))
    runner = SimpleNamespace(iter=0, work_dir='/nonexistent', cfg=Config({}))
    with pytest.raises(RuntimeError, match='^CUDA out of memory$'):
        with collective_timeout_reported(runner):
            raise RuntimeError('CUDA out of memory')
