"""Distributed timeout: env_cfg.dist_cfg.timeout reaches torch.distributed (gloo, 2 processes,
one frozen by SIGSTOP) and the timeout fails with mmfer's message naming the option."""
import multiprocessing as mp
import os
import signal
import socket
import time
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.runner import BaseLoop

import mmfer.engine.hooks.dist_timeout_hook as dth
from mmfer.engine.hooks.dist_timeout_hook import DistTimeoutHook
from mmfer.utils.dist import (DEFAULT_DIST_TIMEOUT, DistTimeoutError, dist_timeout,
                              dist_timeout_message, explain_dist_timeout, is_dist_timeout)

GLOO_TIMEOUT = ('[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out '
                'waiting 2000ms for recv operation to complete')


def test_timeout_option_values():
    assert dist_timeout(Config()) == DEFAULT_DIST_TIMEOUT == 1800
    assert dist_timeout(Config(dict(env_cfg=dict(dist_cfg=dict(backend='gloo'))))) == 1800
    assert dist_timeout(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=45))))) == 45.0
    for bad in (0, -3, '60', True):
        with pytest.raises(ValueError, match='env_cfg.dist_cfg.timeout must be a positive'):
            dist_timeout(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=bad)))))


def test_timeout_error_is_explained():
    assert is_dist_timeout(RuntimeError(GLOO_TIMEOUT))
    assert is_dist_timeout(RuntimeError('Watchdog caught collective operation timeout'))
    assert not is_dist_timeout(RuntimeError('Expected more than 1 value per channel'))
    assert not is_dist_timeout(ValueError('timed out'))  # not a collective's error type
    assert not is_dist_timeout(RuntimeError('DataLoader timed out after 5 seconds'))
    with pytest.raises(DistTimeoutError) as info:
        with explain_dist_timeout(2):
            raise RuntimeError(GLOO_TIMEOUT)
    msg = str(info.value)
    assert msg.startswith('a distributed collective waited more than 2 s for the other ranks '
                          'and timed out (PyTorch: [../third_party/gloo')
    assert 'env_cfg.dist_cfg.timeout = 2 s' in msg and 'default 1800' in msg
    assert '--cfg-options env_cfg.dist_cfg.timeout=600' in msg
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(KeyError):  # other errors pass through unchanged
        with explain_dist_timeout(2):
            raise KeyError('x')


class _Loop(BaseLoop):
    def __init__(self, error):
        self.error = error

    def run(self):
        raise self.error


def test_hook_wraps_the_built_loops(monkeypatch):
    monkeypatch.setattr(dth, 'get_world_size', lambda: 2)
    logs = []
    runner = SimpleNamespace(
        cfg=Config(dict(env_cfg=dict(dist_cfg=dict(timeout=30)))),
        logger=SimpleNamespace(info=lambda m: logs.append(('INFO', m)),
                               error=lambda m: logs.append(('ERROR', m))),
        _train_loop=_Loop(RuntimeError(GLOO_TIMEOUT)), _val_loop=dict(type='ValLoop'),
        _test_loop=_Loop(RuntimeError('unrelated')))
    hook = DistTimeoutHook()
    hook.before_run(runner)
    hook.before_run(runner)  # wrapped once only
    assert logs == [('INFO', 'distributed collectives time out after 30 s '
                             '(env_cfg.dist_cfg.timeout)')] * 2
    with pytest.raises(DistTimeoutError, match=r'env_cfg\.dist_cfg\.timeout = 30 s'):
        runner._train_loop.run()
    assert logs[-1][0] == 'ERROR' and 'waited more than 30 s' in logs[-1][1]
    with pytest.raises(RuntimeError, match='^unrelated$'):
        runner._test_loop.run()
    assert runner._val_loop == dict(type='ValLoop')  # unbuilt loops are left alone
    # not distributed: nothing wrapped, nothing logged
    monkeypatch.setattr(dth, 'get_world_size', lambda: 1)
    plain = SimpleNamespace(cfg=Config(), logger=None, _train_loop=_Loop(KeyError('k')))
    DistTimeoutHook().before_run(plain)
    assert not hasattr(plain._train_loop.run, '_mmfer_timeout')


def _rank(rank, port, queue):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2',
                      MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    import torch
    import torch.distributed as dist

    from mmfer.utils.dist import explain_dist_timeout, setup_cpu_distributed
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='gloo', timeout=2))))
    setup_cpu_distributed(cfg, 'pytorch')
    queue.put(('ready', rank))
    if rank == 1:
        queue.close()
        queue.join_thread()  # flushed before the process is frozen
        os.kill(os.getpid(), signal.SIGSTOP)  # the frozen rank never joins the all-reduce
        return
    start = time.time()
    try:
        with explain_dist_timeout(2):
            dist.all_reduce(torch.ones(1))
        queue.put(('no error', time.time() - start))
    except Exception as err:  # noqa: BLE001 (reported to the test process)
        queue.put((f'{type(err).__name__}: {err}', time.time() - start))


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs fork (POSIX)')
def test_frozen_rank_ends_with_mmfer_message_in_seconds():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    ctx = mp.get_context('fork')  # the children inherit the imported torch / mmfer (fast)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, port, queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    try:
        got = [queue.get(timeout=60) for _ in range(3)]
    finally:
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
            p.join(10)
    assert sorted(g for g in got if g[0] == 'ready') == [('ready', 0), ('ready', 1)]
    (message, waited), = [g for g in got if g[0] != 'ready']
    assert message.startswith('DistTimeoutError: rank 0 of 2: a distributed collective waited '
                              'more than 2 s for the other ranks and timed out (PyTorch: ')
    assert 'env_cfg.dist_cfg.timeout = 2 s' in message
    assert 'Timed out waiting 2000ms' in message  # the 2 s reached gloo
    assert 1.5 < waited < 20
