"""GuidanceMapHook (LAN guidance maps, guidance_map_hook.py): a tiny LAN training run clusters
once, sets guidance_map on every batch (loss_map logged), stores the centers in the checkpoint;
--resume and testing never re-cluster; backends and modes; flip consistency of §3.6."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from mmfer.engine.hooks.guidance_map_hook import GuidanceMapHook, shard_indices
from mmfer.utils import kmeans as km
from mmfer.utils.checkpoint import safe_torch_load

pytestmark = pytest.mark.usefixtures('one_thread')

# 64 px faces, ResNet-18 with 8 base channels: layer4 is 64×2×2 → 4 positions
LAN_MODEL = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
    neck=dict(type='LocalAttention', in_channels=64, widths=(8, 8, 8)),
    head=dict(type='FERClsHead', num_classes=7, in_channels=64,
              losses=[dict(type='FERCrossEntropyLoss'),
                      dict(type='GuidanceBCELoss', loss_weight=0.5)]),
    data_preprocessor=dict(num_classes=7, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True))


def lan_cfg(tiny_cfg, work_dir, hook=None, **kw):
    cfg = tiny_cfg(work_dir, num_samples=16, batch_size=8, **kw)
    cfg.model = LAN_MODEL
    cfg.train_dataloader.dataset.img_size = 64
    cfg.test_dataloader.dataset.img_size = 64
    cfg.custom_hooks = [dict(dict(type='GuidanceMapHook', restarts=2), **(hook or {}))]
    return cfg


def the_hook(runner) -> GuidanceMapHook:
    hooks = [h for h in runner.hooks if isinstance(h, GuidanceMapHook)]
    assert len(hooks) == 1
    return hooks[0]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One epoch of the tiny LAN job: (work_dir, runner, hook)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(  # the hooks' conftest (importlib mode)
        'hooks_conftest', osp.join(osp.dirname(__file__), 'conftest.py'))
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    make_cfg = conf.tiny_cfg
    work_dir = tmp_path_factory.mktemp('lan')
    runner = Runner.from_cfg(lan_cfg(make_cfg, work_dir))
    runner.train()
    return work_dir, runner, the_hook(runner)


def test_training_clusters_once_and_stores_the_centers(trained, log_text):
    work_dir, runner, hook = trained
    assert hook.num_fits == 1 and hook.last_backend == 'exact'
    assert hook.centers.centers.shape == (4, 2, 64) and hook.centers.map_size == (2, 2)
    text = log_text(work_dir)
    # 16 images × 4 positions × 64 channels × 4 bytes
    assert '16 images × 4 positions × 64 channels × 4 bytes = 16,384 bytes' in text
    assert 'loss_map:' in text and 'loss_ce:' in text
    ckpt = safe_torch_load(osp.join(str(work_dir), 'epoch_1.pth'))
    entry = ckpt['meta']['lan_guidance']
    assert torch.equal(entry['centers'], torch.from_numpy(hook.centers.centers))
    assert entry['guidance_mode'] == 'online_reference' and entry['map_size'] == [2, 2]
    # no model.pretrained file: the reference weights travel in meta (same keys as a backbone)
    assert set(entry['reference_state']) == set(runner.model.backbone.state_dict())
    assert not any(k.startswith('aux') or 'ref' in k for k in ckpt['state_dict'])


def test_resume_does_not_recluster(trained, tiny_cfg, tmp_path):
    work_dir, _, hook = trained
    ckpt_path = osp.join(str(work_dir), 'epoch_1.pth')
    entry = safe_torch_load(ckpt_path)['meta']['lan_guidance']
    cfg = lan_cfg(tiny_cfg, tmp_path, max_epochs=2)
    cfg.resume, cfg.load_from = True, ckpt_path
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook2 = the_hook(runner)
    assert runner.epoch == 2 and hook2.num_fits == 0
    assert np.array_equal(hook2.centers.centers, hook.centers.centers)
    for k, v in hook2.ref_net.state_dict().items():
        assert torch.equal(v, entry['reference_state'][k])


def test_testing_a_checkpoint_never_clusters(trained, tiny_cfg, tmp_path):
    work_dir, _, _ = trained
    cfg = lan_cfg(tiny_cfg, tmp_path)
    cfg.load_from = osp.join(str(work_dir), 'epoch_1.pth')
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert the_hook(runner).num_fits == 0 and the_hook(runner).centers is None
    assert 0.0 <= metrics['fer/accuracy'] <= 100.0


def test_guidance_set_on_batch_equals_reference_assignment(tmp_path, tiny_cfg):
    runner = Runner.from_cfg(lan_cfg(tiny_cfg, tmp_path))
    hook = the_hook(runner)
    hook.before_train(runner)
    batch = next(iter(runner.train_dataloader))
    hook.before_train_iter(runner, 0, batch)
    g = torch.stack([ds.guidance_map for ds in batch['data_samples']])
    assert g.shape == (8, 2, 2) and set(g.unique().tolist()) <= {0.0, 1.0}
    inputs = runner.model.data_preprocessor(batch, False)['inputs']
    with torch.no_grad():
        maps = hook.ref_net(inputs)[-1]
    assert torch.equal(g, hook.centers.assign(maps))
    # the model's loss reads it: α·BCE of the LAN logits against G
    data = runner.model.data_preprocessor(batch, True)
    feats = runner.model.extract_feat(data['inputs'])
    losses = runner.model.head.loss(feats, data['data_samples'])
    expect = 0.5 * torch.nn.functional.binary_cross_entropy_with_logits(
        feats['attn_logits'], g[:, None])
    assert float(losses['loss_map']) == pytest.approx(float(expect), rel=1e-6)


def test_other_backends_agree_with_exact(tmp_path, tiny_cfg):
    runner = Runner.from_cfg(lan_cfg(tiny_cfg, tmp_path, hook=dict(minibatch_init=16)))
    hook = the_hook(runner)
    hook.fit(runner)
    exact = hook.centers
    ref = hook.ref_net
    hook.build_reference = lambda runner: ref  # the same reference weights for every backend
    for backend in ('memmap', 'minibatch'):
        hook.kmeans_backend = backend
        hook.fit(runner)
        assert hook.last_backend == backend
        if backend == 'memmap':
            assert osp.exists(osp.join(str(tmp_path), 'lan_guidance_feats.npy'))
            # features rounded to float16 (relative 2^-11): centers within 1e-2
            assert np.allclose(hook.centers.centers, exact.centers, rtol=1e-2, atol=1e-2)
            assert np.array_equal(hook.centers.attentive, exact.attentive)
        else:
            assert np.array_equal(hook.centers.attentive >= 0, exact.attentive >= 0)
            assert np.allclose(hook.centers.centers, exact.centers, rtol=0.1, atol=0.05)
    assert hook.num_fits == 3


def test_exact_refuses_above_the_budget(tmp_path, tiny_cfg):
    runner = Runner.from_cfg(lan_cfg(tiny_cfg, tmp_path, hook=dict(
        kmeans_backend='exact', memory_budget=1000)))
    with pytest.raises(MemoryError, match='kmeans_backend="memmap"'):
        the_hook(runner).fit(runner)
    auto = GuidanceMapHook(memory_budget=1000)
    assert auto.choose_backend(16, 4, 64) == 'memmap'
    default = GuidanceMapHook()
    assert default.choose_backend(12_271, 49, 512) == 'exact'  # RAF-DB within 4 GiB
    assert '12,271 images × 49 positions × 512 channels × 4 bytes = 1,231,419,392 bytes' \
        in default.last_estimate
    assert GuidanceMapHook().choose_backend(287_651, 49, 512) == 'memmap'  # AffectNet-8


def test_precomputed_table_flip_and_checkpoint_round_trip(tmp_path, tiny_cfg):
    runner = Runner.from_cfg(lan_cfg(tiny_cfg, tmp_path, hook=dict(
        guidance_mode='precomputed')))
    hook = the_hook(runner)
    hook.fit(runner)
    assert hook.table.shape == (16, 2, 2) and hook.table.dtype == np.uint8
    # a sample and its flipped copy: G columns reversed (§3.6)
    table = np.zeros((16, 2, 2), np.uint8)
    table[3] = [[1, 0], [1, 1]]
    hook.table = table
    plain = DataSample(metainfo=dict(sample_idx=3, flip=False))
    flipped = DataSample(metainfo=dict(sample_idx=3, flip=True, flip_direction='horizontal'))
    g = hook.guidance_for_batch(runner, dict(data_samples=[plain, flipped]))
    assert g[0].tolist() == [[1, 0], [1, 1]] and g[1].tolist() == [[0, 1], [1, 1]]
    vertical = DataSample(metainfo=dict(sample_idx=3, flip=True, flip_direction='vertical'))
    with pytest.raises(ValueError, match='horizontal'):
        hook.guidance_for_batch(runner, dict(data_samples=[vertical]))
    # the table is packed into the checkpoint and restored on resume
    ckpt = dict(meta={})
    hook.before_save_checkpoint(runner, ckpt)
    fresh = GuidanceMapHook(guidance_mode='precomputed')
    runner._resume = True
    fresh.after_load_checkpoint(runner, ckpt)
    assert np.array_equal(fresh.table, table)


class PooledProjection(nn.Module):
    """An exactly flip-equivariant reference: 32×32 average pooling then a 1×1 conv."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(32)
        self.proj = nn.Conv2d(3, 4, 1, bias=False)
        self.proj.weight.data = torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0]]
                                             ).reshape(4, 3, 1, 1)

    def forward(self, x):
        return (self.proj(self.pool(x)), )


def test_online_reference_guidance_is_flip_consistent():
    """G(flip x) = flip G(x) needs an equivariant reference *and* mirror-symmetric centers
    (centers at p equal to those at p's mirror), which holds when the clustered set is closed
    under flipping; on a set that is not, the check fails (docs/lan.md)."""
    torch.manual_seed(0)
    imgs = torch.randint(0, 2, (40, 3, 64, 64)).float()  # integer images: exact sums
    bright = torch.rand(40, 2, 2) < 0.25  # a quarter of the 32×32 blocks is bright: 2 clusters
    imgs += 8 * bright.repeat_interleave(32, 1).repeat_interleave(32, 2)[:, None].float()
    ref = PooledProjection()
    train = torch.cat([imgs, torch.flip(imgs, dims=(-1, ))])  # flip-closed clustering set
    with torch.no_grad():
        feats = ref(train)[0].flatten(2).transpose(1, 2).numpy()  # 80×4×4
    centers = km.fit_exact(feats, seed=0, restarts=3)
    hook = GuidanceMapHook()
    hook.ref_net, hook.centers = ref, centers
    g = centers.assign(hook.reference_maps(None, imgs))
    g_flip = centers.assign(hook.reference_maps(None, torch.flip(imgs, dims=(-1, ))))
    assert 0 < g.sum() < g.numel()
    assert torch.equal(g_flip, km.flip_guidance(g))


def test_sharding_and_option_checks():
    assert shard_indices(10, 0, 1).tolist() == list(range(10))
    assert shard_indices(10, 1, 3).tolist() == [1, 4, 7]
    parts = np.concatenate([shard_indices(10, r, 3) for r in range(3)])
    assert sorted(parts.tolist()) == list(range(10))
    with pytest.raises(ValueError, match='guidance_mode'):
        GuidanceMapHook(guidance_mode='offline')
    with pytest.raises(ValueError, match='kmeans_backend'):
        GuidanceMapHook(kmeans_backend='faiss')
    with pytest.raises(ValueError, match='recluster_every'):
        GuidanceMapHook(recluster_every=0)


class EpochRunner:
    """The parts of a runner the hook reads, at a chosen epoch."""

    def __init__(self, runner, epoch):
        self.cfg, self.model, self.work_dir, self.epoch = (runner.cfg, runner.model,
                                                           runner.work_dir, epoch)


def test_reference_choices_live_mode_and_recluster(tmp_path, tiny_cfg):
    runner = Runner.from_cfg(lan_cfg(tiny_cfg, tmp_path))
    model = runner.model
    # a checkpoint path: a backbone of the model's architecture loaded strictly from the file
    torch.manual_seed(1)
    other = {f'backbone.{k}': torch.randn_like(v) if v.is_floating_point() else v
             for k, v in model.backbone.state_dict().items()}
    path = str(tmp_path / 'ce_only.pth')
    torch.save(dict(state_dict=other), path)
    ref = GuidanceMapHook(reference=path).build_reference(runner)
    assert ref is not model.backbone and not ref.training
    assert all(torch.equal(v, other[f'backbone.{k}']) for k, v in ref.state_dict().items())
    assert not any(p.requires_grad for p in ref.parameters())
    with pytest.raises(KeyError, match="prefix"):
        GuidanceMapHook(reference=dict(checkpoint=path, prefix='neck.')).build_reference(runner)
    assert GuidanceMapHook(reference='live').build_reference(runner) is model.backbone
    with pytest.raises(KeyError, match='aux_nets'):
        GuidanceMapHook(reference='aux.reference').build_reference(runner)

    # live mode: the model's backbone in eval mode, its train mode restored
    hook = the_hook(runner)
    hook.guidance_mode = 'live'
    hook.fit(runner)
    batch = next(iter(runner.train_dataloader))
    model.train()
    g = hook.guidance_for_batch(runner, batch)
    assert model.backbone.training
    model.eval()
    with torch.no_grad():
        maps = model.backbone(model.data_preprocessor(batch, False)['inputs'])[-1]
    assert torch.equal(g, hook.centers.assign(maps))

    # recluster_every=2: epochs 2 and 4 re-cluster, 1 and 3 do not
    hook.recluster_every = 2
    for epoch in (1, 2, 3, 4):
        hook.before_train_epoch(EpochRunner(runner, epoch))
    assert hook.num_fits == 3


DIST_SCRIPT = r'''
import os, sys, types
import numpy as np
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import init_default_scope
import mmfer  # noqa: F401
from mmfer.engine.hooks.guidance_map_hook import GuidanceMapHook
from mmfer.registry import MODELS
out = sys.argv[1]
if int(os.environ.get('WORLD_SIZE', 1)) > 1:
    dist.init_process_group('gloo')
init_default_scope('mmfer')
torch.manual_seed(0)  # the same weights on every rank
model = MODELS.build(dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
    head=dict(type='FERClsHead', num_classes=7, in_channels=64),
    data_preprocessor=dict(num_classes=7, mean=[128.] * 3, std=[64.] * 3, to_rgb=True)))
model.eval()
cfg = Config(dict(
    train_dataloader=dict(dataset=dict(type='SynthFER', split='train', num_samples=21,
                                       img_size=64, pipeline=[])),
    test_dataloader=dict(dataset=dict(type='SynthFER', split='test', num_samples=7, img_size=64,
                                      pipeline=[dict(type='PackInputs')]))))
runner = types.SimpleNamespace(cfg=cfg, model=model, work_dir=out)
for backend in ('exact', 'memmap'):
    hook = GuidanceMapHook(reference='live', kmeans_backend=backend, restarts=2,
                           extract_batch_size=4)
    hook.fit(runner)
    np.save(os.path.join(out, f'{backend}_w{os.environ.get("WORLD_SIZE", 1)}_r'
                              f'{os.environ.get("RANK", 0)}.npy'), hook.centers.centers)
'''


def _launch(script, out, world):
    import socket
    import subprocess
    import sys
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(world):
        env = dict(__import__('os').environ, RANK=str(rank), WORLD_SIZE=str(world),
                   LOCAL_RANK=str(rank), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                   OMP_NUM_THREADS='1')
        procs.append(subprocess.Popen([sys.executable, script, out], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]


def test_two_ranks_shard_the_extraction_and_share_the_centers(tmp_path, monkeypatch):
    """21 images over 2 gloo ranks (11 + 10, unequal batch counts): rank 0 clusters the gathered
    (exact) or jointly written (memmap) features, both ranks end with the same centers, those a
    single process computes (to float32 rounding: a shard's conv batches differ)."""
    script = tmp_path / 'dist_fit.py'
    script.write_text(DIST_SCRIPT)
    out = str(tmp_path)
    _launch(str(script), out, 2)
    monkeypatch.setattr('sys.argv', ['dist_fit.py', out])
    exec(compile(DIST_SCRIPT, 'dist_fit.py', 'exec'), {'__name__': 'dist_fit'})  # world size 1
    for backend in ('exact', 'memmap'):
        single = np.load(osp.join(out, f'{backend}_w1_r0.npy'))
        r0 = np.load(osp.join(out, f'{backend}_w2_r0.npy'))
        r1 = np.load(osp.join(out, f'{backend}_w2_r1.npy'))
        assert single.shape == (4, 2, 64)
        assert np.array_equal(r0, r1)
        assert np.allclose(r0, single, rtol=1e-4, atol=1e-6)


def test_cluster_flipped_makes_online_guidance_flip_consistent(tmp_path, tiny_cfg):
    """cluster_flipped=True clusters 2N maps (each image and its mirror); with the exactly
    flip-equivariant PooledProjection as reference, the guidance of a flipped batch is the
    flipped guidance of the batch."""
    runner = Runner.from_cfg(lan_cfg(tiny_cfg, tmp_path, hook=dict(cluster_flipped=True,
                                                                  restarts=10)))
    hook = the_hook(runner)
    ref = PooledProjection()
    hook.build_reference = lambda runner: ref
    hook.fit(runner)
    assert hook.centers.centers.shape == (4, 2, 4)
    assert '32 images × 4 positions × 4 channels' in hook.last_estimate  # 2 × 16 maps
    # mirror positions (0 ↔ 1, 2 ↔ 3 of the 2×2 map) got the same two centers
    for p, q in ((0, 1), (2, 3)):
        a = hook.centers.centers[p][np.argsort(hook.centers.centers[p][:, 0])]
        b = hook.centers.centers[q][np.argsort(hook.centers.centers[q][:, 0])]
        assert np.allclose(a, b, atol=1e-5)
    batch = next(iter(runner.train_dataloader))
    inputs = runner.model.data_preprocessor(batch, False)['inputs']
    g = hook.centers.assign(hook.reference_maps(runner, inputs))
    g_flip = hook.centers.assign(hook.reference_maps(runner, torch.flip(inputs, dims=(-1, ))))
    assert torch.equal(g_flip, km.flip_guidance(g))


def test_auxiliary_network_as_reference(tmp_path, tiny_cfg):
    """reference='aux.reference': the model's frozen, train-only auxiliary network is the
    reference (eval mode kept); inference never runs it."""
    cfg = lan_cfg(tiny_cfg, tmp_path, hook=dict(reference='aux.reference'))
    cfg.model = dict(cfg.model, aux_nets=dict(reference=dict(
        type='ResNet', depth=18, stem_channels=8, base_channels=8, frozen=True,
        train_only=True)))
    runner = Runner.from_cfg(cfg)
    hook = the_hook(runner)
    hook.fit(runner)
    assert hook.ref_net is runner.model.aux_nets['reference']
    batch = next(iter(runner.train_dataloader))
    inputs = runner.model.data_preprocessor(batch, False)['inputs']
    with torch.no_grad():
        maps = runner.model.aux_nets['reference'](inputs)[-1]
    assert torch.equal(hook.guidance_for_batch(runner, batch), hook.centers.assign(maps))
    runner.model.eval()
    feats = runner.model.extract_feat(inputs)
    assert not any(k.startswith('aux.') for k in feats)  # train_only: not run at inference


def test_precomputed_mode_trains_with_the_table_and_flips(tmp_path, tiny_cfg, log_text):
    """A training epoch in precomputed mode: every batch's G is the table row of its sample_idx,
    column-reversed for the samples RandomFlip flipped; the packed table is in the checkpoint."""
    runner = Runner.from_cfg(lan_cfg(tiny_cfg, tmp_path, hook=dict(
        guidance_mode='precomputed')))
    hook = the_hook(runner)
    seen = []
    original = hook.before_train_iter

    def spy(runner, batch_idx, data_batch=None):
        original(runner, batch_idx, data_batch)
        for ds in data_batch['data_samples']:
            row = torch.from_numpy(hook.table[ds.metainfo['sample_idx']].astype(np.float32))
            flipped = bool(ds.metainfo.get('flip', False))
            seen.append(flipped)
            assert torch.equal(ds.guidance_map, row.flip(-1) if flipped else row)
    hook.before_train_iter = spy
    runner.train()
    assert len(seen) == 16 and any(seen) and not all(seen)  # RandomFlip(0.5) flipped some
    assert 'loss_map:' in log_text(tmp_path)
    entry = safe_torch_load(osp.join(str(tmp_path), 'epoch_1.pth'))['meta']['lan_guidance']
    assert entry['table_shape'] == [16, 2, 2] and entry['guidance_mode'] == 'precomputed'
