"""SingleSampleBatchHook: a training set of 2·B + 1 samples trains (the last batch of one is
dropped, logged) instead of dying on BatchNorm after a whole epoch; other partial batches stay."""
import glob
import math
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.runner import Runner
from torch.utils.data import DataLoader

import mmfer.engine.hooks.single_sample_batch_hook as ssb
from mmfer.engine.hooks.single_sample_batch_hook import (SingleSampleBatchHook,
                                                         WithoutSingleSampleTail)

pytestmark = pytest.mark.usefixtures('one_thread')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(('INFO', msg))

    def warning(self, msg):
        self.lines.append(('WARNING', msg))


def fake_runner(loader):
    return SimpleNamespace(_train_loop=SimpleNamespace(dataloader=loader), logger=_Log(),
                           cfg=Config(), param_schedulers=None)


def test_batch_of_one_fails_without_the_hook(tmp_path, tiny_cfg):
    """The reproduction: 9 samples, batch 4 → the 3rd batch holds one sample."""
    cfg = tiny_cfg(tmp_path, num_samples=9, batch_size=4)
    cfg.default_hooks.single_sample_batch.enable = False
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match='Expected more than 1 value per channel'):
        runner.train()
    assert runner.iter == 2


def test_hook_drops_only_the_batch_of_one_and_rebuilds_iter_schedules(tmp_path, tiny_cfg,
                                                                       log_text):
    cfg = tiny_cfg(tmp_path, num_samples=9, batch_size=4, max_epochs=2)
    # an epoch-based cosine converted to iterations depends on the epoch length
    cfg.param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=2, eta_min=1e-4,
                               convert_to_iter_based=True)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4 and runner.max_iters == 4  # 2 iterations per epoch, not 3
    assert len(runner.train_dataloader) == 2
    scheduler = runner.param_schedulers[0]
    assert (scheduler.T_max, scheduler.begin, scheduler.end) == (4, 0, 4)
    # the 4th (last) iteration ran at step 3 of 4 of the cosine: eta_min + (lr0 - eta_min) ·
    # (1 + cos(3π/4)) / 2 = 1.5498e-3 (with the stale T_max = 6 it would be 5.05e-3)
    expected = 1e-4 + (0.01 - 1e-4) * (1 + math.cos(3 * math.pi / 4)) / 2
    assert runner.optim_wrapper.get_lr()['lr'][0] == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.5498e-3, rel=1e-4)
    log = log_text(tmp_path)
    assert ('WARNING - training set: 9 samples per epoch = 2 × batch_size 4 + 1: the last '
            'batch would hold a single sample') in log
    assert '2 iterations per epoch instead of 3' in log
    assert glob.glob(str(tmp_path / 'epoch_2.pth'))


def test_sampler_wrapper_per_rank_length(monkeypatch):
    """Under distributed sampling the per-rank length decides: 17 samples on 2 ranks → 9 per
    rank (DefaultSampler rounds up) → with batch 4 the last batch of one is dropped."""
    monkeypatch.setattr('mmengine.dataset.sampler.get_dist_info', lambda: (1, 2))
    monkeypatch.setattr(ssb, 'get_rank', lambda: 1)
    monkeypatch.setattr(ssb, 'get_world_size', lambda: 2)
    dataset = list(range(17))
    sampler = DefaultSampler(dataset, shuffle=True, seed=3)
    assert len(sampler) == 9
    loader = DataLoader(dataset, batch_size=4, sampler=sampler)
    runner = fake_runner(loader)
    SingleSampleBatchHook().before_run(runner)
    assert isinstance(loader.batch_sampler.sampler, WithoutSingleSampleTail)
    assert len(loader) == 2
    batches = [b.tolist() for b in loader]
    assert [len(b) for b in batches] == [4, 4]
    assert sum(batches, []) == list(sampler)[:8]  # the sampler's order, its last index left out
    level, msg = runner.logger.lines[0]
    assert level == 'WARNING'
    assert msg.startswith('training set: 9 samples per epoch on rank 1 of 2 = 2 × batch_size 4')
    SingleSampleBatchHook().before_run(runner)  # idempotent (before_run runs again for test)
    assert len(loader) == 2 and len(runner.logger.lines) == 1


@pytest.mark.parametrize('n,batch_size,drop_last,expected', [
    (10, 4, False, [4, 4, 2]),  # a last batch of 2 is kept (the official DAN behaviour)
    (9, 4, True, [4, 4]),       # drop_last already drops it: untouched
    (8, 4, False, [4, 4]),
    (9, 1, False, [1] * 9),     # batch size 1: nothing to decide here
])
def test_other_partial_batches_are_kept(n, batch_size, drop_last, expected):
    loader = DataLoader(list(range(n)), batch_size=batch_size, drop_last=drop_last)
    runner = fake_runner(loader)
    SingleSampleBatchHook().before_run(runner)
    assert not isinstance(loader.batch_sampler.sampler, WithoutSingleSampleTail)
    assert [len(b) for b in loader] == expected
    assert runner.logger.lines == []


def test_one_sample_per_epoch_fails_before_training():
    loader = DataLoader([0], batch_size=4)
    with pytest.raises(ValueError, match='the training set has 1 sample per epoch'):
        SingleSampleBatchHook().before_run(fake_runner(loader))


def test_custom_batch_sampler_is_left_alone():
    batch_sampler = [[0, 1], [2]]
    loader = DataLoader(list(range(3)), batch_sampler=batch_sampler)
    runner = fake_runner(loader)
    SingleSampleBatchHook().before_run(runner)
    assert loader.batch_sampler is batch_sampler
    assert runner.logger.lines[0][0] == 'INFO' and 'custom batch sampler (list)' in \
        runner.logger.lines[0][1]


@pytest.mark.parametrize('name', ['rafdb', 'affectnet7', 'affectnet8', 'sfew', 'synthfer'])
def test_dan_configs_keep_the_last_partial_batch(name):
    cfg = Config.fromfile(osp.join(ROOT, f'configs/dan/dan_r18_{name}.py'))
    assert cfg.train_dataloader.get('drop_last', False) is False
    assert cfg.default_hooks.single_sample_batch == dict(type='SingleSampleBatchHook')
    if name == 'rafdb':  # official: 12,271 images, batch 256 → 48 iterations, the last of 239
        assert cfg.train_dataloader.batch_size == 256
        assert 12271 % 256 == 239 and -(-12271 // 256) == 48


def test_wrapper_length_follows_the_sampler():
    tail = WithoutSingleSampleTail(list(range(13)), batch_size=4)
    assert len(tail) == 12 and list(tail) == list(range(12))
    assert len(WithoutSingleSampleTail(list(range(14)), batch_size=4)) == 14
    assert torch.utils.data.BatchSampler(tail, 4, False).__len__() == 3
