"""Distributed set-up that also works without CUDA (gloo on CPU), and the collective timeout.

The timeout of every collective (DDP's gradient all-reduce, the evaluator's result gather,
barriers) is ``env_cfg.dist_cfg.timeout`` in seconds (default :data:`DEFAULT_DIST_TIMEOUT`, set
in ``configs/_base_/default_runtime.py``). When one rank stops (crashed without exiting,
frozen, swapped out), the others wait that long inside a collective and then fail; mmfer turns
that failure into :class:`DistTimeoutError`, whose message names the option.
"""
import contextlib
import datetime
import re

import torch
import torch.distributed as dist

#: seconds a collective may wait for the other ranks: mmengine's Runner default and PyTorch's
#: default for gloo (PyTorch's NCCL default is 600 s); long enough for a validation pass on
#: one rank while the others wait in a barrier.
DEFAULT_DIST_TIMEOUT = 1800

_TIMEOUT_PATTERN = re.compile(r'timed? ?out|timeout|watchdog', re.IGNORECASE)


class DistTimeoutError(RuntimeError):
    """A collective operation waited longer than ``env_cfg.dist_cfg.timeout``."""


def dist_timeout(cfg) -> float:
    """``cfg.env_cfg.dist_cfg.timeout`` in seconds (a positive number), or
    :data:`DEFAULT_DIST_TIMEOUT` when the config does not set it.

    Raises:
        ValueError: the option is not a positive number of seconds.
    """
    env_cfg = cfg.get('env_cfg', None) or {}
    dist_cfg = env_cfg.get('dist_cfg', None) or {}
    timeout = dist_cfg.get('timeout', None)
    if timeout is None:
        return float(DEFAULT_DIST_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f'env_cfg.dist_cfg.timeout must be a positive number of seconds '
                         f'(e.g. {DEFAULT_DIST_TIMEOUT}), got {timeout!r}')
    return float(timeout)


def is_dist_timeout(err: BaseException) -> bool:
    """Whether ``err`` is a collective timing out: a ``RuntimeError`` (gloo's "Timed out
    waiting 2000ms for recv operation", NCCL's watchdog "Timeout", ``DistBackendError``) whose
    message mentions a timeout. A DataLoader's own ``timeout`` ("DataLoader timed out after
    N seconds") is not one."""
    return (isinstance(err, RuntimeError) and not isinstance(err, DistTimeoutError)
            and 'DataLoader' not in str(err) and bool(_TIMEOUT_PATTERN.search(str(err))))


def dist_timeout_message(timeout: float, err: BaseException = None) -> str:
    """The explanation mmfer gives when a collective times out."""
    rank = f'rank {dist.get_rank()} of {dist.get_world_size()}: ' \
        if dist.is_available() and dist.is_initialized() else ''
    cause = f' (PyTorch: {str(err).strip().splitlines()[0][:300]})' if err is not None else ''
    return (f'{rank}a distributed collective waited more than {timeout:g} s for the other '
            f'ranks and timed out{cause}. Another rank has stopped making progress: look for '
            'an error or a crash in the logs of the other ranks (each rank logs separately), a '
            'process stopped or swapped out, or a rank that skipped a collective (e.g. a '
            'different number of iterations per rank). The limit is '
            f'env_cfg.dist_cfg.timeout = {timeout:g} s (seconds, default '
            f'{DEFAULT_DIST_TIMEOUT}); raise it if one rank legitimately works alone that long '
            '(e.g. a long evaluation on rank 0), lower it to fail faster, e.g. '
            '--cfg-options env_cfg.dist_cfg.timeout=600.')


@contextlib.contextmanager
def explain_dist_timeout(timeout: float):
    """Re-raise a collective timeout inside the block as :class:`DistTimeoutError` with
    :func:`dist_timeout_message` (the original error chained as ``__cause__``); every other
    exception passes through unchanged."""
    try:
        yield
    except RuntimeError as err:
        if is_dist_timeout(err):
            raise DistTimeoutError(dist_timeout_message(timeout, err)) from err
        raise


def setup_cpu_distributed(cfg, launcher: str):
    """Prepare ``cfg`` for a distributed run on a machine without CUDA.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and its
    runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; neither works on CPU.
    For the ``pytorch`` launcher (torchrun, ``tools/dist_train.sh``) this starts the gloo
    process group itself, with ``timeout`` = :func:`dist_timeout` (``env_cfg.dist_cfg.timeout``
    seconds, as mmengine's ``init_dist`` would pass it) — the runner then skips its own
    initialisation — and gives the DDP wrapper ``device_ids=None`` (what DDP requires for CPU
    modules). With CUDA it does nothing: mmengine's ``init_dist`` reads the same option.

    Raises:
        RuntimeError: slurm / mpi launchers without CUDA (mmengine's initialisation of
            those needs a GPU).
        ValueError: ``env_cfg.dist_cfg.timeout`` is not a positive number.
    """
    timeout = dist_timeout(cfg)
    if launcher == 'none' or torch.cuda.is_available():
        return cfg
    if launcher != 'pytorch':
        raise RuntimeError(f'launcher {launcher!r} needs CUDA (mmengine sets a CUDA device when '
                           'it initialises it); on CPU use tools/dist_train.sh (torchrun)')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', timeout=datetime.timedelta(seconds=timeout))
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                       find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return cfg
