"""QCSClassifier / DCSClassifier (qcs.md §2, §5, §6, §8): loss composition, branch BN, inference
cost, checkpoint interplay, parameter counts of the real model, a 2-iteration SAM run."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.datasets import BaseDataset
from mmpretrain.structures import DataSample

from mmfer.datasets.quadruplet import QuadrupletDataset
from mmfer.models.classifiers.qcs_classifier import DCSClassifier, QCSClassifier
from mmfer.registry import MODELS
from mmfer.utils.flops import count_flops


pytestmark = pytest.mark.usefixtures('one_thread')

init_default_scope('mmfer')

# tiny stand-in base network: CIFAR ResNet (no stem pooling) at 16 px → maps 16², 8², 4² →
# POSTERBase → 3 levels × 2×2 tokens of width 16
TINY = dict(
    backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=3, out_indices=(0, 1, 2),
                  strides=(1, 2, 2), dilations=(1, 1, 1),
                  stem_channels=8, base_channels=8),
    neck=dict(type='POSTERBase', in_channels=(8, 16, 32), embed_dim=16, num_tokens=12,
              vit=dict(depth=1, num_heads=2, mlp_ratio=2.)),
    # the QCS configs' base loss: 0.5 · mean over the views of CE = 1/(2V) Σ_X CE_X
    head=dict(type='FERClsHead', num_classes=3, in_channels=16,
              losses=[dict(type='FERCrossEntropyLoss', loss_weight=0.5, loss_name='loss_base')]),
    data_preprocessor=dict(mean=[127.5] * 3, std=[64.] * 3, to_rgb=True),
)


def tiny(cls='QCSClassifier', **kw):
    cfg = copy.deepcopy(TINY)
    cfg.update(type=cls, cross_vit=dict(num_heads=2, mlp_ratio=2.), **kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def samples(y, y_neg=None):
    out = []
    for i, label in enumerate(y):
        ds = DataSample().set_gt_label(label)
        if y_neg is not None:
            ds.set_field(torch.tensor([y_neg[i]]), 'neg_label')
        out.append(ds)
    return out


def manual_losses(model, inputs, targets):
    """The spec's loss written out branch by branch."""
    v = inputs.shape[1]
    feats = [model.extract_feat(inputs[:, i]) for i in range(v)]
    base = [F.cross_entropy(model.head(f), y) for f, y in zip(feats, targets)]
    tokens = [f['tokens'] for f in feats]
    zs = [[] for _ in range(v)]
    for lvl, csa in enumerate(model.cross_neck.csa):
        out = csa([t[:, 4 * lvl:4 * (lvl + 1)] for t in tokens])
        for i in range(v):
            zs[i].append(out[i])
    cross = []
    for t, z, y in zip(tokens, zs, targets):
        cls, _ = model.cross_neck.vit(t + torch.cat(z, dim=1))
        cross.append(F.cross_entropy(model.cross_head.fc(cls), y))
    return sum(base) / (2 * v), sum(cross) / (2 * v)


def test_qcs_loss_is_the_average_of_eight_ce():
    model = tiny().eval()  # eval: BN running stats, so two evaluations agree exactly
    torch.manual_seed(1)
    inputs = torch.randn(3, 4, 3, 16, 16)
    y, y_neg = torch.tensor([0, 1, 2]), torch.tensor([2, 0, 0])
    losses = model.loss(inputs, samples(y.tolist(), y_neg.tolist()))
    assert set(losses) == {'loss_base', 'loss_cross'}
    base, cross = manual_losses(model, inputs, [y, y, y_neg, y_neg])
    assert torch.allclose(losses['loss_base'], base, atol=1e-6)
    assert torch.allclose(losses['loss_cross'], cross, atol=1e-6)
    # y′ matters: the negatives are supervised with their own label
    other = model.loss(inputs, samples(y.tolist(), [1, 1, 1]))
    assert not torch.allclose(other['loss_base'], losses['loss_base'])


def test_dcs_loss_and_modules():
    model = tiny('DCSClassifier').eval()
    assert isinstance(model, DCSClassifier) and model.num_branches == 2
    assert all(c.mode == 'dcs_s' and c.theta is None for c in model.cross_neck.csa)
    torch.manual_seed(2)
    inputs = torch.randn(2, 2, 3, 16, 16)
    y = torch.tensor([1, 2])
    losses = model.loss(inputs, samples(y.tolist()))
    base, cross = manual_losses(model, inputs, [y, y])
    assert torch.allclose(losses['loss_base'], base, atol=1e-6)
    assert torch.allclose(losses['loss_cross'], cross, atol=1e-6)


def test_train_label_fields():
    # tools/analysis/benchmark.py fills these with random labels for a training step
    assert tiny().train_label_fields == ('neg_label', )
    assert tiny('DCSClassifier').train_label_fields == ()


def test_branch_bn_separate_vs_joint():
    sep, joint = tiny(branch_bn='separate'), tiny(branch_bn='joint')
    joint.load_state_dict(sep.state_dict())
    torch.manual_seed(3)
    inputs = torch.randn(2, 4, 3, 16, 16) * torch.tensor([1., 3., 1., 3.]).view(1, 4, 1, 1, 1)
    ds = samples([0, 1], [2, 2])
    # eval: BN running statistics, so the two forms agree
    sep.eval(), joint.eval()
    l_sep, l_joint = sep.loss(inputs, ds), joint.loss(inputs, ds)
    assert torch.allclose(l_sep['loss_base'], l_joint['loss_base'], atol=1e-6)
    assert torch.allclose(l_sep['loss_cross'], l_joint['loss_cross'], atol=1e-6)
    # train mode: per-branch vs joint BatchNorm batch statistics give different losses
    sep.train(), joint.train()
    l_sep, l_joint = sep.loss(inputs, ds), joint.loss(inputs, ds)
    assert abs(l_sep['loss_base'].item() - l_joint['loss_base'].item()) > 1e-4
    # BN running statistics were updated once per branch (4 calls) vs once
    bn = 'backbone.bn1.num_batches_tracked'
    assert sep.state_dict()[bn].item() == 4 and joint.state_dict()[bn].item() == 1


def test_sam_step_updates_bn_eight_times():
    """qcs.md §7/§8: BN running statistics are updated for every branch in both SAM passes."""
    from mmfer.engine.optimizers.sam import SAMOptimWrapper
    model = tiny().train()
    wrapper = SAMOptimWrapper(optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), rho=0.05)
    data = dict(inputs=[torch.randint(0, 255, (4, 3, 16, 16), dtype=torch.uint8)
                        for _ in range(2)], data_samples=samples([0, 1], [2, 2]))
    log = model.train_step(data, wrapper)
    assert set(log) == {'loss', 'loss_base', 'loss_cross'}
    assert model.backbone.bn1.num_batches_tracked.item() == 8


def test_cross_loss_reaches_the_base_network():
    model = tiny().train()
    torch.manual_seed(4)
    losses = model.loss(torch.randn(2, 4, 3, 16, 16), samples([0, 1], [2, 2]))
    losses['loss_cross'].backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.neck.vit.blocks[0].mlp.fc1.weight.grad.abs().sum() > 0
    assert all(c.theta.grad is not None for c in model.cross_neck.csa)
    assert model.head.fc.weight.grad is None  # the base head only gets the base loss


def test_inference_runs_base_network_only():
    model = tiny()
    called = []
    for name in ('cross_neck', 'cross_head'):
        for sub, mod in getattr(model, name).named_modules():
            mod.register_forward_hook(lambda *a, n=f'{name}.{sub}': called.append(n))
    x = torch.rand(2, 3, 16, 16) * 255
    preds = model.val_step(dict(inputs=list(x), data_samples=samples([0, 1])))
    assert len(preds) == 2 and preds[0].pred_score.shape == (3, )
    assert model(model.data_preprocessor(dict(inputs=list(x)))['inputs']).shape == (2, 3)
    assert called == []
    res = count_flops(model, torch.randn(1, 3, 16, 16))
    base = sum(p.numel() for m in (model.backbone, model.neck, model.head)
               for p in m.parameters())
    assert res.params['inference'] == base
    assert res.params['registered'] == base + sum(
        p.numel() for m in (model.cross_neck, model.cross_head) for p in m.parameters())
    for name in ('cross_neck', 'cross_head'):
        assert not res.module(name).executed and res.module(name).macs == 0


def test_inference_model_and_checkpoints():
    model = tiny()
    base = model.inference_model()
    assert base.backbone is model.backbone and base.head is model.head
    assert type(base).__name__ == 'FERClassifier'
    x = torch.randn(2, 3, 16, 16)
    model.eval(), base.eval()
    assert torch.equal(model(x), base(x))
    qcs_sd = model.state_dict()
    assert set(base.state_dict()) == {k for k in qcs_sd if not k.startswith('cross_')}
    # a base-network checkpoint loads strictly into a plain FERClassifier …
    plain = MODELS.build(dict(copy.deepcopy(TINY), type='FERClassifier'))
    plain.load_state_dict(base.state_dict(), strict=True)
    # … and into the QCS model with only the training-only modules missing
    fresh = tiny()
    missing, unexpected = fresh.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and missing and all(k.startswith('cross_') for k in missing)


def test_inference_model_keeps_device_augments():
    """A multi-view model whose preprocessor has device_augments (and multi_view_augments) still
    gives a deployable single-view network: FERDataPreprocessor with the same ops, the same
    eval output."""
    model = tiny(data_preprocessor=dict(
        type='MultiViewDataPreprocessor', multi_view_augments='independent', seed=0,
        device_augments=[dict(type='BatchHorizontalFlip', prob=0.5)]))
    base = model.inference_model()
    pre = base.data_preprocessor
    assert type(pre).__name__ == 'FERDataPreprocessor'
    assert [type(op).__name__ for op in pre.device_augments] == ['BatchHorizontalFlip']
    x = torch.randn(2, 3, 16, 16)
    model.eval(), base.eval()
    assert torch.equal(model(x), base(x))


@pytest.mark.parametrize('connection,in_dim', [('gap', 16), ('bp', 256)])
def test_connection_variants(connection, in_dim):
    model = tiny(connection=connection) if connection == 'vit' else None
    cfg = copy.deepcopy(TINY)
    cfg.update(type='QCSClassifier', connection=connection)
    model = MODELS.build(cfg).eval()
    assert model.cross_neck.vit is None and model.cross_head.fc.in_features == in_dim
    assert model.cross_neck.out_channels == in_dim
    torch.manual_seed(5)
    inputs = torch.randn(2, 4, 3, 16, 16)
    losses = model.loss(inputs, samples([0, 1], [2, 2]))
    feats = [model.extract_feat(inputs[:, i]) for i in range(4)]
    g_tokens = feats[0]['tokens']
    z = model.cross_neck.refine([f['tokens'] for f in feats])[0]
    g = g_tokens + z
    if connection == 'gap':
        ref = g.mean(1)
    else:
        x = (g.transpose(1, 2) @ z).flatten(1) / 12
        x = torch.sign(x) * torch.sqrt(x.abs() + 1e-5)
        ref = x / x.norm(dim=1, keepdim=True) * 100
    assert torch.allclose(model.cross_neck.connect(g, z), ref, atol=1e-5)
    assert torch.allclose(model.cross_neck(feats)[0]['feat'], ref, atol=1e-5)
    assert torch.isfinite(losses['loss_cross'])


def test_bad_inputs():
    model = tiny()
    with pytest.raises(ValueError, match='N×4×3×H×W'):
        model.loss(torch.randn(2, 3, 16, 16), samples([0, 1], [2, 2]))
    with pytest.raises(ValueError, match='base network'):
        model(torch.randn(2, 4, 3, 16, 16), mode='predict')
    with pytest.raises(KeyError, match='neg_label'):
        model.loss(torch.randn(2, 4, 3, 16, 16), samples([0, 1]))
    with pytest.raises(ValueError, match='num_branches'):
        tiny(num_branches=3)
    with pytest.raises(ValueError, match='does not take 2 branches'):
        tiny(num_branches=2, cross_neck=dict(mode='qcs_sd'))
    with pytest.raises(TypeError, match='MultiViewDataPreprocessor'):
        tiny(data_preprocessor=dict(type='ClsDataPreprocessor'))


def test_real_model_parameter_counts():
    """qcs.md acceptance: CSA 5,906,689; VIT_cross 8,390,407; QCS training model 66,810,513;
    inference (base) model 40,700,039 — built from configs/qcs/qcs_rafdb.py."""
    cfg = Config.fromfile('configs/qcs/qcs_rafdb.py')
    model = MODELS.build(cfg.model)

    def n(*mods):
        return sum(p.numel() for m in mods for p in m.parameters())
    assert n(model) == 66_810_513
    assert n(model.cross_neck.vit, model.cross_head) == 8_390_407
    assert [n(c) for c in model.cross_neck.csa] == [5_906_689] * 3
    assert n(model.backbone, model.neck, model.head) == 40_700_039
    assert n(model.inference_model()) == 40_700_039
    dcs = MODELS.build(Config.fromfile('configs/qcs/dcs_rafdb.py').model)
    assert n(dcs) == 66_810_513 - 3


class ToyFaces(BaseDataset):
    """24 random 16×16 images of 3 classes (8 each)."""

    METAINFO = dict(classes=('x', 'y', 'z'))

    def __init__(self, **kwargs):
        super().__init__(ann_file='', serialize_data=False, **kwargs)

    def load_data_list(self):
        rng = np.random.default_rng(0)
        return [dict(img=rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), gt_label=i % 3)
                for i in range(24)]


def test_runner_two_iterations_with_sam(tmp_path):
    from mmengine.runner import Runner
    model = copy.deepcopy(TINY)
    model.update(type='QCSClassifier', cross_vit=dict(num_heads=2, mlp_ratio=2.))
    pipeline = [dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                dict(type='PackInputs')]
    runner = Runner(
        model=model, work_dir=str(tmp_path), default_scope='mmfer',
        train_dataloader=dict(
            batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=QuadrupletDataset(ToyFaces(pipeline=pipeline), num_branches=4)),
        optim_wrapper=dict(type='SAMOptimWrapper', rho=0.05,
                           optimizer=dict(type='Adam', lr=1e-3)),
        param_scheduler=dict(type='ExponentialLR', gamma=0.98, by_epoch=True),
        train_cfg=dict(by_epoch=False, max_iters=2),
        custom_hooks=[dict(type='DatasetEpochHook')],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=10 ** 6)),
        randomness=dict(seed=0), log_level='WARNING')
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    hub = runner.message_hub
    for key in ('loss', 'loss_base', 'loss_cross'):
        assert np.isfinite(hub.get_scalar(f'train/{key}').current())
    assert abs(hub.get_scalar('train/loss').current() - hub.get_scalar('train/loss_base').current()
               - hub.get_scalar('train/loss_cross').current()) < 1e-5
    after = runner.model.state_dict()
    for name in ('backbone.conv1.weight', 'cross_neck.csa.0.theta', 'cross_head.fc.weight'):
        assert not torch.equal(before[name], after[name])
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())


# qcs.md §10.1 (official code values; qcs_rafdb = the non-‡ setting, see the spec)
RECIPES = {
    # config: (classifier, branches, K, lr, batch, epochs, sampler num_samples, negatives,
    #          VIT_base drop, VIT_cross drop, residual, train resize (h, w: the official
    #          scripts squash to a square), erasing scale)
    'qcs_rafdb': ('QCSClassifier', 4, 7, 4e-6, 24, 200, None, 'frequency', 0., 0., 'post',
                  (224, 224), (0.02, 0.1)),
    'qcs_rafdb_ft-affectnet8': ('QCSClassifier', 4, 7, 3e-6, 24, 200, None, 'frequency', 0.,
                                0., 'post', (224, 224), (0.02, 0.1)),
    'qcs_ferplus': ('QCSClassifier', 4, 8, 3.5e-6, 24, 150, None, 'frequency', 0., .2, 'post',
                    (232, 232), (0.02, 0.1)),
    'qcs_ferplus_ft-affectnet8': ('QCSClassifier', 4, 8, 2.5e-6, 24, 150, None, 'frequency', 0.,
                                  .2, 'post', (232, 232), (0.02, 0.1)),
    'qcs_affectnet7': ('QCSClassifier', 4, 7, 4e-6, 24, 150, 1 / 12, 'balanced', 0., .4, 'post',
                       (236, 236), (0.03, 0.1)),
    'qcs_affectnet8': ('QCSClassifier', 4, 8, 4e-6, 24, 100, 1 / 12, 'balanced', 0., 0., 'post',
                       (236, 236), (0.03, 0.1)),
    'dcs_rafdb': ('DCSClassifier', 2, 7, 9e-6, 48, 200, None, None, 0., .2, 'post', (224, 224),
                  (0.02, 0.1)),
    'dcs_ferplus': ('DCSClassifier', 2, 8, 8e-6, 24, 150, None, None, 0., .2, 'pre', (234, 234),
                    (0.02, 0.1)),
    'dcs_affectnet7': ('DCSClassifier', 2, 7, 9e-6, 48, 100, 1 / 8, None, 0., .4, 'post',
                       (236, 236), (0.03, 0.1)),
    'dcs_affectnet8': ('DCSClassifier', 2, 8, 8e-6, 48, 50, 1 / 8, None, .2, .5, 'pre',
                       (224, 224), (0.02, 0.1)),
}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe_configs(name):
    from mmcv.transforms import Compose
    (cls, nb, k, lr, bs, epochs, frac, neg, drop_b, drop_c, style, resize,
     erase) = RECIPES[name]
    cfg = Config.fromfile(f'configs/qcs/{name}.py')
    m, dl = cfg.model, cfg.train_dataloader
    assert (m.type, m.num_branches, m.head.num_classes, m.branch_bn) == (cls, nb, k, 'separate')
    assert m.cross_neck.mode == ('qcs_sd' if nb == 4 else 'dcs_s')
    assert (m.cross_neck.minmax, m.cross_neck.gamma, m.cross_neck.residual_style) == \
        ('batch', 1.0, style)
    assert (m.neck.vit.drop_ratio, m.cross_vit.drop_ratio, m.cross_vit.depth) == \
        (drop_b, drop_c, 1)
    # the 8-class official ViT file also drops after the attention projection
    assert m.cross_vit.proj_drop_ratio == (drop_c if k == 8 else 0.)
    assert cfg.optim_wrapper.type == 'SAMOptimWrapper' and cfg.optim_wrapper.rho == 0.05
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay, tuple(opt.betas)) == ('Adam', lr, 0., (.9, .999))
    assert (cfg.param_scheduler.type, cfg.param_scheduler.gamma) == ('ExponentialLR', 0.98)
    assert (dl.batch_size, cfg.train_cfg.max_epochs) == (bs, epochs)
    if frac is None:
        assert dl.sampler == dict(type='DefaultSampler', shuffle=True)
    else:
        assert dl.sampler.type == 'ClassBalancedSampler'
        assert abs(dl.sampler.num_samples - frac) < 1e-12
    assert dl.dataset.type == 'QuadrupletDataset' and dl.dataset.num_branches == nb
    if neg is not None:
        assert dl.dataset.negative_mode == neg
    assert cfg.model_wrapper_cfg.type == 'SAMDistributedDataParallel'
    assert dict(type='DatasetEpochHook') in cfg.custom_hooks
    pipe = dl.dataset.dataset.pipeline
    assert pipe[2] == dict(type='torchvision/Resize', size=resize)
    erasing = [t for t in pipe if t['type'] == 'NormalizedRandomErasing']
    assert len(erasing) == 1 and tuple(erasing[0]['scale']) == erase
    # the pipelines (after loading) run on an image and give 224×224 views
    rng = np.random.default_rng(0)
    for p in (pipe, cfg.val_dataloader.dataset.pipeline):
        out = Compose(p[1:])(dict(img=rng.integers(0, 255, (100, 100, 3), dtype=np.uint8),
                                  gt_label=0))
        assert out['inputs'].shape == (3, 224, 224)


@pytest.mark.parametrize('name,cls,nb,bs', [('qcs_synthfer', 'QCSClassifier', 4, 16),
                                            ('dcs_synthfer', 'DCSClassifier', 2, 32)])
def test_synthfer_configs(name, cls, nb, bs):
    cfg = Config.fromfile(f'configs/qcs/{name}.py')
    base = Config.fromfile('configs/qcs/poster_base_synthfer.py')
    assert (cfg.model.type, cfg.model.num_branches) == (cls, nb)
    # same base network as the base-only config, same images per pass
    for key in ('backbone', 'neck'):
        assert cfg.model[key] == base.model[key]
    # the head differs only in its loss: 0.5 · view-mean CE logged as loss_base (qcs.md §5)
    assert dict(cfg.model.head, losses=None) == dict(base.model.head, losses=None)
    assert cfg.model.head.losses == [dict(type='FERCrossEntropyLoss', loss_weight=0.5,
                                          loss_name='loss_base')]
    assert cfg.train_dataloader.batch_size * nb == base.train_dataloader.batch_size
    assert cfg.train_dataloader.dataset.dataset == base.train_dataloader.dataset
    assert cfg.train_cfg == base.train_cfg and cfg.param_scheduler == base.param_scheduler
    model = MODELS.build(cfg.model)
    assert model.cross_neck.csa[0].embed_dim == 128 and model.cross_neck.vit.num_tokens == 48
