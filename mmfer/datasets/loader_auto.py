"""Data-loader settings sized to the machine (issue 15, part 2).

A dataloader config may say ``num_workers='auto'`` and / or ``persistent_workers='auto'``;
:func:`resolve_loader_cfg` (called by :meth:`mmfer.engine.runner.FERRunner.build_dataloader`
for every train / val / test loader) replaces them by values sized to the cores this process
may use, and, for ``num_workers='auto'``, sets the main process's intra-op threads
(``torch.set_num_threads``) so that loader workers and compute do not oversubscribe the cores.

**Cores of this process** (:func:`available_cores`): the CPU affinity mask
(``os.sched_getaffinity``, what ``taskset`` / Slurm / docker ``--cpuset-cpus`` allow), capped by
the cgroup CPU quota when there is one (cgroup v2 ``/sys/fs/cgroup/cpu.max``, v1
``cpu.cfs_quota_us / cpu.cfs_period_us``, rounded up: docker ``--cpus 2.5`` → 3), divided by
the ranks on this machine under distributed training (``mmengine.dist.get_local_size()``:
the ranks of one node share its cores; at least 1 core per rank).

**The rule** (:func:`auto_workers`), ``c`` = cores per rank:

============================  ==========================  ==================================
machine                       ``num_workers``             main-process threads
============================  ==========================  ==================================
CPU compute, ``c <= 2``       0                           ``c``
CPU compute, ``c > 2``        ``clamp(c // 4, 1, 8)``     ``c - workers``
CUDA compute, ``c == 1``      0                           1
CUDA compute, ``c >= 2``      ``min(8, c - 1)``           ``max(1, c - workers)``
============================  ==========================  ==================================

Why: on CPU the model's compute shares the cores with the workers. On the 2-core machine the
demo's 2 workers made a training epoch 1.20× slower than 0 workers (issue 15; re-measured in
docs/data_loading.md), because decoding, resizing and flipping are ~11 % of an iteration there
and a worker process only moves that work onto the cores the compute threads need. With more
cores, about a quarter of them load data (generous for an ~11 % share, so the loader keeps up
with compute that scales sub-linearly in its threads) and the rest compute. With CUDA, the
compute runs on the device and the main process mostly launches kernels, so the cores go to
the workers, keeping one for the main process. The cap of 8 workers: beyond it the per-worker
memory (a copy of the dataset object each, and ``prefetch_factor`` batches) grows while one
GPU is rarely data-bound on decoded-JPEG pipelines of 100–256 px faces. A worker runs torch
with one thread (PyTorch sets that in each worker), so ``workers + threads <= c``.

``persistent_workers='auto'`` is ``True`` iff the resolved ``num_workers > 0`` (keeping
workers alive across epochs saves their start-up, and ``True`` with 0 workers is an error in
``torch.utils.data.DataLoader``). For the same reason an explicit ``persistent_workers=True``
(e.g. inherited from a base config) becomes ``False`` when ``num_workers='auto'`` resolves to 0.

**Thread precedence** (highest first): ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` in the
environment (e.g. ``tools/demo.sh`` exports ``OMP_NUM_THREADS=2``; ``torchrun`` and mmengine's
distributed setup export ``OMP_NUM_THREADS=1`` when unset) → torch's threads are left as they
are; an explicit integer ``num_workers`` → threads left as they are (the config chose the
split); ``num_workers='auto'`` → ``torch.set_num_threads`` to the table above.
Explicit integers / booleans pass through unchanged; the resolved values are logged
(``print_log(..., logger='current')``).
"""
import copy
import math
import os
from typing import Optional, Tuple

from mmengine.logging import print_log

__all__ = ['resolve_loader_cfg', 'available_cores', 'cgroup_cpu_limit', 'auto_workers',
           'THREAD_ENV_VARS', 'MAX_AUTO_WORKERS']

#: environment variables that fix the intra-op threads explicitly (never overridden)
THREAD_ENV_VARS = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')
#: the most workers ``'auto'`` chooses (see the module doc)
MAX_AUTO_WORKERS = 8
_AUTO = 'auto'


def cgroup_cpu_limit(root: str = '/sys/fs/cgroup') -> Optional[int]:
    """Cores allowed by the cgroup CPU quota (rounded up), or ``None`` without a quota.

    Reads cgroup v2 ``<root>/cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``), else
    cgroup v1 ``<root>/cpu/cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` (quota ``-1``: none).
    An unreadable or malformed file counts as no quota (the affinity mask still applies).
    """
    def _read(path):
        try:
            with open(path) as f:
                return f.read().split()
        except (OSError, ValueError):
            return None

    v2 = _read(os.path.join(root, 'cpu.max'))
    if v2 is not None:
        quota, period = (v2 + [None, None])[:2]
    else:
        q = _read(os.path.join(root, 'cpu', 'cpu.cfs_quota_us'))
        p = _read(os.path.join(root, 'cpu', 'cpu.cfs_period_us'))
        if not q or not p:
            return None
        quota, period = q[0], p[0]
    try:
        quota, period = int(quota), int(period)
    except (TypeError, ValueError):  # 'max' (v2 without quota) or garbage
        return None
    if quota <= 0 or period <= 0:  # v1 '-1': no quota
        return None
    return max(1, math.ceil(quota / period))


def _affinity_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _local_world_size() -> int:
    from mmengine.dist import get_local_size
    return max(1, int(get_local_size()))


def available_cores(affinity: Optional[int] = None, cgroup_limit: Optional[int] = -1,
                    local_world_size: Optional[int] = None) -> int:
    """Cores one rank of this process may use (see the module doc); at least 1.

    Args:
        affinity: cores in the affinity mask; ``None`` reads ``os.sched_getaffinity(0)``.
        cgroup_limit: cores of the cgroup quota, ``None`` for no quota; ``-1`` (default)
            reads it with :func:`cgroup_cpu_limit`.
        local_world_size: ranks on this machine; ``None`` asks ``mmengine.dist`` (1 when not
            distributed).
    """
    cores = _affinity_cores() if affinity is None else int(affinity)
    limit = cgroup_cpu_limit() if cgroup_limit == -1 else cgroup_limit
    if limit is not None:
        cores = min(cores, int(limit))
    ranks = _local_world_size() if local_world_size is None else int(local_world_size)
    return max(1, cores // max(1, ranks))


def auto_workers(cores: int, accelerator: bool = False) -> Tuple[int, int]:
    """``(num_workers, main-process threads)`` for ``cores`` cores per rank (the table of the
    module doc); ``accelerator``: the compute runs on a CUDA device."""
    cores = max(1, int(cores))
    if accelerator:
        workers = 0 if cores == 1 else min(MAX_AUTO_WORKERS, cores - 1)
    else:
        workers = 0 if cores <= 2 else min(MAX_AUTO_WORKERS, max(1, cores // 4))
    return workers, max(1, cores - workers)


def resolve_loader_cfg(dataloader: dict, cores: Optional[int] = None,
                       accelerator: Optional[bool] = None, set_threads: bool = True,
                       log: bool = True) -> dict:
    """A copy of the dataloader config ``dataloader`` with ``'auto'`` worker settings resolved.

    Args:
        dataloader: a dataloader config dict (``num_workers`` / ``persistent_workers`` may be
            ``'auto'``); a dict without ``'auto'`` is returned as an unchanged copy.
        cores: cores per rank; ``None`` uses :func:`available_cores`.
        accelerator: the compute runs on CUDA; ``None`` uses ``torch.cuda.is_available()``.
        set_threads: with ``num_workers='auto'`` and no thread variable in the environment
            (:data:`THREAD_ENV_VARS`), call ``torch.set_num_threads`` (module doc: precedence).
        log: log the resolved values.

    Raises:
        ValueError: ``num_workers`` not a non-negative int or ``'auto'``, or
            ``persistent_workers`` not a bool or ``'auto'``.
    """
    nw = dataloader.get('num_workers', 0)
    pw = dataloader.get('persistent_workers', False)
    if isinstance(nw, bool) or not (nw == _AUTO if isinstance(nw, str)
                                    else isinstance(nw, int) and nw >= 0):
        raise ValueError(f"dataloader num_workers={nw!r}: allowed values are a non-negative "
                         f"integer or 'auto'")
    if not (pw == _AUTO if isinstance(pw, str) else isinstance(pw, bool)):
        raise ValueError(f"dataloader persistent_workers={pw!r}: allowed values are True, "
                         f"False or 'auto'")
    out = copy.copy(dataloader)
    if nw != _AUTO and pw != _AUTO:
        return out
    msg = []
    if nw == _AUTO:
        if accelerator is None:
            import torch
            accelerator = torch.cuda.is_available()
        c = available_cores() if cores is None else int(cores)
        nw, threads = auto_workers(c, accelerator)
        out['num_workers'] = nw
        msg.append(f"num_workers='auto' → {nw} ({c} cores per rank, "
                   f"{'CUDA' if accelerator else 'CPU'} compute)")
        if set_threads:
            env = [k for k in THREAD_ENV_VARS if os.environ.get(k)]
            import torch
            if env:
                msg.append(f'torch threads left at {torch.get_num_threads()} '
                           f'({env[0]}={os.environ[env[0]]} is set)')
            else:
                torch.set_num_threads(threads)
                msg.append(f'torch threads → {threads}')
    if pw == _AUTO:
        out['persistent_workers'] = nw > 0
        msg.append(f"persistent_workers='auto' → {nw > 0}")
    elif pw and nw == 0 and dataloader.get('num_workers') == _AUTO:
        # a base config's persistent_workers=True cannot hold once 'auto' chose 0 workers
        # (DataLoader raises); the explicit True asked for workers to persist, not to exist
        out['persistent_workers'] = False
        msg.append('persistent_workers True → False (no workers)')
    if log:
        print_log('dataloader: ' + ', '.join(msg), logger='current')
    return out
