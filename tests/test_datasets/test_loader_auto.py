"""``num_workers='auto'`` / ``persistent_workers='auto'`` (mmfer.datasets.loader_auto): the
rule on mocked core counts, the cgroup quota, ranks per machine, explicit values untouched,
errors, the thread precedence and the FERRunner.build_dataloader hook."""
import os

import pytest
import torch

from mmfer.datasets import loader_auto
from mmfer.datasets.loader_auto import (auto_workers, available_cores, cgroup_cpu_limit,
                                        resolve_loader_cfg)


@pytest.fixture
def keep_threads(monkeypatch):
    """Restore torch's threads; no thread variable in the environment unless a test sets one."""
    n = torch.get_num_threads()
    for k in loader_auto.THREAD_ENV_VARS:
        monkeypatch.delenv(k, raising=False)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize('cores,accel,expected', [
    (1, False, (0, 1)), (2, False, (0, 2)), (3, False, (1, 2)), (8, False, (2, 6)),
    (16, False, (4, 12)), (64, False, (8, 56)),
    (1, True, (0, 1)), (2, True, (1, 1)), (16, True, (8, 8)), (4, True, (3, 1)),
])
def test_auto_workers_rule(cores, accel, expected):
    assert auto_workers(cores, accelerator=accel) == expected


def test_cgroup_v2_and_v1(tmp_path):
    (tmp_path / 'cpu.max').write_text('250000 100000\n')  # docker --cpus 2.5
    assert cgroup_cpu_limit(str(tmp_path)) == 3
    (tmp_path / 'cpu.max').write_text('max 100000\n')
    assert cgroup_cpu_limit(str(tmp_path)) is None
    v1 = tmp_path / 'v1'
    (v1 / 'cpu').mkdir(parents=True)
    (v1 / 'cpu' / 'cpu.cfs_quota_us').write_text('100000\n')
    (v1 / 'cpu' / 'cpu.cfs_period_us').write_text('100000\n')
    assert cgroup_cpu_limit(str(v1)) == 1
    (v1 / 'cpu' / 'cpu.cfs_quota_us').write_text('-1\n')
    assert cgroup_cpu_limit(str(v1)) is None
    assert cgroup_cpu_limit(str(tmp_path / 'missing')) is None


def test_available_cores_affinity_quota_ranks(monkeypatch):
    assert available_cores(affinity=16, cgroup_limit=None, local_world_size=1) == 16
    assert available_cores(affinity=16, cgroup_limit=4, local_world_size=1) == 4
    assert available_cores(affinity=16, cgroup_limit=None, local_world_size=2) == 8
    assert available_cores(affinity=3, cgroup_limit=None, local_world_size=4) == 1
    # the defaults read the affinity mask and mmengine's ranks on this machine
    monkeypatch.setattr(loader_auto.os, 'sched_getaffinity', lambda pid: set(range(16)))
    monkeypatch.setattr(loader_auto, 'cgroup_cpu_limit', lambda: None)
    monkeypatch.setattr(loader_auto, '_local_world_size', lambda: 2)
    assert available_cores() == 8


@pytest.mark.parametrize('cores,workers,threads', [(1, 0, 1), (2, 0, 2), (16, 4, 12)])
def test_resolve_auto_sets_workers_persistence_threads(keep_threads, cores, workers, threads):
    cfg = dict(batch_size=4, num_workers='auto', persistent_workers='auto')
    out = resolve_loader_cfg(cfg, cores=cores, accelerator=False)
    assert out['num_workers'] == workers
    assert out['persistent_workers'] is (workers > 0)
    assert torch.get_num_threads() == threads
    assert cfg['num_workers'] == 'auto'  # the config itself is not modified


def test_resolve_from_mocked_machine(keep_threads, monkeypatch):
    """16 cores, a cgroup quota of 8, 2 ranks on the machine → 4 cores per rank on CPU."""
    monkeypatch.setattr(loader_auto.os, 'sched_getaffinity', lambda pid: set(range(16)))
    monkeypatch.setattr(loader_auto, 'cgroup_cpu_limit', lambda: 8)
    monkeypatch.setattr(loader_auto, '_local_world_size', lambda: 2)
    out = resolve_loader_cfg(dict(num_workers='auto', persistent_workers='auto'),
                             accelerator=False)
    assert (out['num_workers'], out['persistent_workers']) == (1, True)
    assert torch.get_num_threads() == 3


def test_explicit_thread_variable_wins(keep_threads, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    torch.set_num_threads(1)
    out = resolve_loader_cfg(dict(num_workers='auto'), cores=16, accelerator=False)
    assert out['num_workers'] == 4
    assert torch.get_num_threads() == 1


def test_explicit_values_pass_through(keep_threads):
    torch.set_num_threads(1)
    cfg = dict(batch_size=4, num_workers=3, persistent_workers=False, sampler=dict(a=1))
    out = resolve_loader_cfg(cfg, cores=16, accelerator=False)
    assert out == cfg and out is not cfg
    assert torch.get_num_threads() == 1  # an explicit num_workers leaves the threads alone
    # only persistent_workers 'auto': follows the explicit worker count, threads untouched
    assert resolve_loader_cfg(dict(num_workers=3, persistent_workers='auto'),
                              cores=16)['persistent_workers'] is True
    assert resolve_loader_cfg(dict(num_workers=0, persistent_workers='auto'),
                              cores=16)['persistent_workers'] is False
    assert torch.get_num_threads() == 1


def test_config_dict_as_the_runner_passes_it(keep_threads):
    from mmengine.config import ConfigDict
    cfg = ConfigDict(num_workers='auto', persistent_workers='auto',
                     sampler=dict(type='DefaultSampler', shuffle=True))
    out = resolve_loader_cfg(cfg, cores=8, accelerator=False)
    assert isinstance(out, ConfigDict) and out.sampler.shuffle is True
    assert (out.num_workers, out.persistent_workers) == (2, True)
    assert (cfg.num_workers, cfg.persistent_workers) == ('auto', 'auto')


def test_inherited_persistent_true_dropped_with_zero_auto_workers(keep_threads):
    out = resolve_loader_cfg(dict(num_workers='auto', persistent_workers=True), cores=2,
                             accelerator=False)
    assert (out['num_workers'], out['persistent_workers']) == (0, False)
    out = resolve_loader_cfg(dict(num_workers='auto', persistent_workers=True), cores=16,
                             accelerator=False)
    assert (out['num_workers'], out['persistent_workers']) == (4, True)


@pytest.mark.parametrize('key,value', [
    ('num_workers', 'Auto'), ('num_workers', -1), ('num_workers', 2.0), ('num_workers', True),
    ('persistent_workers', 'yes'), ('persistent_workers', 1)])
def test_bad_values(key, value):
    with pytest.raises(ValueError, match=key + r".*allowed values"):
        resolve_loader_cfg({key: value}, cores=2)


def test_logs_resolved_values(keep_threads, monkeypatch):
    logged = []
    monkeypatch.setattr(loader_auto, 'print_log',
                        lambda msg, logger=None: logged.append((msg, logger)))
    resolve_loader_cfg(dict(num_workers='auto', persistent_workers='auto'), cores=16,
                       accelerator=True)
    assert len(logged) == 1 and logged[0][1] == 'current'
    assert logged[0][0] == ("dataloader: num_workers='auto' → 8 (16 cores per rank, CUDA "
                            "compute), torch threads → 8, persistent_workers='auto' → True")
    logged.clear()
    resolve_loader_cfg(dict(num_workers=2), cores=16)  # nothing resolved: nothing logged
    assert logged == []


def test_runner_build_dataloader_applies_it(keep_threads, monkeypatch):
    from mmengine.registry import init_default_scope

    from mmfer.engine.runner import FERRunner
    init_default_scope('mmfer')
    monkeypatch.setattr(loader_auto, 'available_cores', lambda: 2)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = dict(batch_size=4, num_workers='auto', persistent_workers='auto',
               sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(type='SynthFER', split='test', num_samples=8, img_size=32,
                            pipeline=[dict(type='PackInputs')]))
    loader = FERRunner.build_dataloader(cfg)
    assert loader.num_workers == 0 and loader.persistent_workers is False
    assert torch.get_num_threads() == 2
    batch = next(iter(loader))
    assert len(batch['inputs']) == 4 and tuple(batch['inputs'][0].shape) == (3, 32, 32)
    # explicit values reach the DataLoader as written
    loader = FERRunner.build_dataloader(dict(cfg, num_workers=1, persistent_workers=True))
    assert loader.num_workers == 1 and loader.persistent_workers is True
    assert os.environ.get('OMP_NUM_THREADS') is None
