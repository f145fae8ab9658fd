"""A distributed run whose ranks stop answering each other ends, and says so.

Every collective operation (DDP's gradient all-reduce, a hook's all-reduce, a
barrier) waits for all ranks. When one rank is frozen (stopped, stuck in I/O,
deadlocked), the others wait in their next collective, with PyTorch's
default limit of 30 minutes for gloo. The tools set ``env_cfg.dist_cfg.timeout``
(seconds, :data:`DEFAULT_COLLECTIVE_TIMEOUT` unless the config gives one),
which mmengine and :func:`~mmseg_csl.engine.setup_cpu_distributed` pass to
``torch.distributed.init_process_group``; a collective that waits longer
raises, and :func:`collective_timeout_reported` turns the error into
:class:`CollectiveTimeoutError`, naming the rank, the last iteration it
completed and the last checkpoint.

With NCCL, a collective that times out is ended by PyTorch's watchdog, which
logs the rank and the operation and stops the process
(``TORCH_NCCL_ASYNC_ERROR_HANDLING``, which ``tools/dist_train.sh`` and
``tools/slurm_train.sh`` set to 1 unless it is set); the error reaches Python,
and this message, only with ``TORCH_NCCL_BLOCKING_WAIT=1``.
"""
import contextlib
import re
from typing import Any, Iterator

from mmengine.config import Config
from mmengine.dist import get_dist_info

from ..models.utils.divergence import last_checkpoint

# Seconds a collective operation waits for the other ranks: longer than any
# wait of a healthy run (rank 0 saving a checkpoint, uneven validation
# shards), and PyTorch's default for NCCL.
DEFAULT_COLLECTIVE_TIMEOUT = 600
# How gloo ("Timed out waiting 600000ms for recv operation to complete") and
# NCCL with blocking wait ("Watchdog caught collective operation timeout: ...
# ran for 600012 milliseconds before timing out") word it.
_TIMEOUT_PATTERN = re.compile(
    r'Timed out waiting \d+ ?ms|collective operation timeout|before timing out')


class CollectiveTimeoutError(RuntimeError):
    """A collective operation waited longer than ``env_cfg.dist_cfg.timeout``
    for the other ranks."""


def configured_timeout(cfg: Config) -> Any:
    """``cfg.env_cfg.dist_cfg.timeout``, or None where the config has none."""
    return cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')


def set_default_collective_timeout(cfg: Config) -> None:
    """Set ``cfg.env_cfg.dist_cfg.timeout`` to :data:`DEFAULT_COLLECTIVE_TIMEOUT`
    unless the config sets it; a value that is not a positive number of
    seconds is refused, naming the key."""
    timeout = configured_timeout(cfg)
    if timeout is None:
        cfg.merge_from_dict(
            {'env_cfg.dist_cfg.timeout': DEFAULT_COLLECTIVE_TIMEOUT})
    elif isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or timeout <= 0:
        raise ValueError('env_cfg.dist_cfg.timeout must be a positive number '
                         f'of seconds, got {timeout!r}')


def is_collective_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a collective operation of a distributed run giving
    up on the other ranks (gloo's and NCCL's timeout errors)."""
    world_size = get_dist_info()[1]
    return (world_size > 1 and isinstance(error, RuntimeError)
            and bool(_TIMEOUT_PATTERN.search(str(error))))


def collective_timeout_message(runner) -> str:
    """What a rank of ``runner``'s run reports when a collective timed out."""
    rank, world_size = get_dist_info()
    timeout = configured_timeout(runner.cfg)
    limit = (f'{timeout} s (env_cfg.dist_cfg.timeout)' if timeout is not None
             else "PyTorch's default timeout (env_cfg.dist_cfg.timeout unset)")
    others = [other for other in range(world_size) if other != rank]
    checkpoint = last_checkpoint(runner.work_dir)
    lines = [
        f'Rank {rank} of {world_size} waited more than {limit} for rank(s) '
        f'{", ".join(map(str, others))} in a collective operation after '
        f'iteration {runner.iter}, the last one it completed: another rank is '
        'frozen or gone (stopped, stuck reading data, out of memory, killed). '
        'The logs of the other ranks say more.',
    ]
    if checkpoint is not None:
        lines.append(f'Last checkpoint: {checkpoint}; --resume continues from it '
                     'once every rank runs.')
    else:
        lines.append('No checkpoint was saved.')
    return '\n'.join(lines)


@contextlib.contextmanager
def collective_timeout_reported(runner) -> Iterator[None]:
    """Run the block (``runner.train()``); a collective timeout in it is raised
    again as :class:`CollectiveTimeoutError` with
    :func:`collective_timeout_message`, other errors as they are."""
    try:
        yield
    except RuntimeError as error:
        if not is_collective_timeout(error):
            raise
        raise CollectiveTimeoutError(collective_timeout_message(runner)) from error
