"""DAN plugins: parameter counts, shapes, hand-computed loss values, fusion, training step.

Numbers are the acceptance facts of specs/dan.md.
"""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmfer.models.losses.affinity import AffinityLoss
from mmfer.models.losses.partition import PartitionLoss
from mmfer.models.necks.man_afn import MultiHeadCrossAttention, attention_fusion
from mmfer.registry import MODELS
from mmfer.utils.params import count_parameters, count_parameters_by_module

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RAFDB_CFG = osp.join(ROOT, 'configs/dan/dan_r18_rafdb.py')

BACKBONE = 11_176_512
PER_HEAD = 2_135_904
FC_BN_7 = 3_605
TOTAL_BY_HEADS = {1: 13_316_021, 2: 15_451_925, 3: 17_587_829, 4: 19_723_733,
                  5: 21_859_637, 6: 23_995_541, 8: 28_267_349}


def build_from_config(path, options=None):
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg, MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def rafdb():
    torch.manual_seed(0)
    return build_from_config(RAFDB_CFG)


def samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


# ----------------------------------------------------------------------------- sizes


def test_parameter_count_rafdb_config(rafdb):
    cfg, model = rafdb
    assert cfg.default_scope == 'mmfer'
    assert count_parameters(model) == 19_723_733
    # the 8 affinity centers (K = 8 on RAF-DB, official) are loss state, excluded by default
    assert count_parameters(model, exclude_loss_state=False) == 19_723_733 + 8 * 512
    assert model.head.losses[1].centers.shape == (8, 512)
    assert count_parameters_by_module(model) == dict(backbone=BACKBONE, neck=4 * PER_HEAD,
                                                      head=FC_BN_7)
    head0 = model.neck.heads[0]
    assert count_parameters(head0) == PER_HEAD
    assert count_parameters(head0.spatial) == 2_102_528
    assert count_parameters(head0.channel) == 33_376
    assert count_parameters(head0.spatial.conv1x1) == 131_840
    assert count_parameters(head0.spatial.conv3x3) == 1_181_184
    assert count_parameters(head0.spatial.conv1x3) == 394_752
    assert count_parameters(head0.spatial.conv3x1) == 394_752


def test_parameter_count_eight_classes():
    head = MODELS.build(dict(type='DANHead', num_classes=8))
    assert count_parameters(head) == 4_120
    assert BACKBONE + 4 * PER_HEAD + count_parameters(head) == 19_724_248
    # the default loss set is the official one, with K = C centers
    assert [type(loss).__name__ for loss in head.losses] == [
        'FERCrossEntropyLoss', 'AffinityLoss', 'PartitionLoss']
    assert head.losses[1].centers.shape == (8, 512)


@pytest.mark.parametrize('num_heads', [1, 2, 3, 5, 6, 8])
def test_parameter_count_per_head_count(num_heads):
    neck = MultiHeadCrossAttention(num_heads=num_heads)
    assert len(neck.heads) == num_heads
    assert BACKBONE + count_parameters(neck) + FC_BN_7 == TOTAL_BY_HEADS[num_heads]


def test_module_names_follow_the_converter_map():
    neck = MultiHeadCrossAttention(num_heads=1)
    names = {n for n, _ in neck.named_parameters()}
    for branch in ('conv1x1', 'conv3x3', 'conv1x3', 'conv3x1'):
        for part in ('conv.weight', 'conv.bias', 'bn.weight', 'bn.bias'):
            assert f'heads.0.spatial.{branch}.{part}' in names
    for part in ('fc1', 'bn', 'fc2'):
        assert f'heads.0.channel.{part}.weight' in names
    assert tuple(neck.heads[0].spatial.conv1x3.conv.weight.shape) == (512, 256, 1, 3)
    assert tuple(neck.heads[0].spatial.conv3x1.conv.weight.shape) == (512, 256, 3, 1)


def test_official_initialisation():
    torch.manual_seed(0)
    neck = MultiHeadCrossAttention(num_heads=2)
    neck.heads[0].spatial.conv3x3.conv.weight.data.fill_(7.)
    neck.init_weights()  # re-applies the official init
    head = neck.heads[0]
    w = head.spatial.conv3x3.conv.weight.detach()
    # Kaiming normal, fan_out = 512·3·3, gain √2
    assert float(w.std()) == pytest.approx(math.sqrt(2 / (512 * 9)), rel=0.02)
    assert float(head.spatial.conv1x1.conv.weight.detach().std()) == pytest.approx(
        math.sqrt(2 / 256), rel=0.02)
    assert float(head.spatial.conv3x3.conv.bias.abs().max()) == 0
    assert torch.equal(head.spatial.conv1x1.bn.weight, torch.ones(256))
    assert float(head.channel.fc1.weight.detach().std()) == pytest.approx(0.001, rel=0.05)
    assert float(head.channel.fc2.bias.abs().max()) == 0
    assert torch.equal(head.channel.bn.weight, torch.ones(32))


# ----------------------------------------------------------------------------- forward


def test_forward_shapes_and_fusion_bound(rafdb):
    _, model = rafdb
    model.eval()
    torch.manual_seed(1)
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(2, 3, 224, 224))
        logits = model.head(feats)
    assert tuple(logits.shape) == (2, 7)
    assert tuple(feats['backbone_map'].shape) == (2, 512, 7, 7)
    assert tuple(feats['head_feats'].shape) == (2, 4, 512)
    assert tuple(feats['feat'].shape) == (2, 512)
    assert tuple(feats['attn_maps'].shape) == (2, 4, 7, 7)
    assert float(feats['attn_maps'].min()) >= 0  # ReLU then channel sum
    assert float(feats['feat'].max()) <= -4 * math.log(4) + 1e-5
    assert torch.allclose(feats['feat'], feats['head_feats'].sum(1))


def test_fusion_tiny_case():
    hm = torch.tensor([[[2., 4.], [0., 0.]]])  # N=1, H=2, D=2
    z, log_heads = attention_fusion(hm)
    expected_l = torch.tensor([[[-0.126928011, -0.018149928], [-2.126928011, -4.018149928]]])
    assert torch.allclose(log_heads, expected_l, atol=1e-7)
    assert torch.allclose(z, torch.tensor([[-2.253856022, -4.036299856]]), atol=1e-6)
    # H = 1: no log-softmax
    single = torch.tensor([[[3., 5.]]])
    z1, l1 = attention_fusion(single)
    assert torch.equal(l1, single) and torch.equal(z1, torch.tensor([[3., 5.]]))


@pytest.mark.parametrize('num_heads', [2, 4, 8])
def test_fusion_bound_random(num_heads):
    g = torch.Generator().manual_seed(num_heads)
    hm = torch.randn(16, num_heads, 64, generator=g) * 5
    z, _ = attention_fusion(hm)
    assert float(z.max()) <= -num_heads * math.log(num_heads) + 1e-5
    # equality when all heads agree in a channel
    z_eq, _ = attention_fusion(torch.full((1, num_heads, 3), 0.7))
    assert torch.allclose(z_eq, torch.full((1, 3), -num_heads * math.log(num_heads)), atol=1e-5)


# ----------------------------------------------------------------------------- losses


def _tiny_log_heads():
    _, log_heads = attention_fusion(torch.tensor([[[2., 4.], [0., 0.]]]))
    return log_heads


def test_partition_loss_values():
    log_heads = _tiny_log_heads()
    # across-head unbiased variances: 2 and 8
    assert torch.allclose(log_heads.var(dim=1), torch.tensor([[2., 8.]]), atol=1e-6)
    official = PartitionLoss(mode='official')
    paper = PartitionLoss(mode='paper')
    assert official.loss_name == 'loss_partition'
    assert float(official.compute(log_heads)) == pytest.approx(0.336472237, abs=1e-7)
    assert float(paper.compute(log_heads)) == pytest.approx(0.458145366, abs=1e-7)
    weighted = PartitionLoss(loss_weight=0.5)(dict(head_feats=log_heads), None)
    assert float(weighted) == pytest.approx(0.5 * 0.336472237, abs=1e-7)
    one_head = torch.randn(3, 1, 8, requires_grad=True)
    for loss in (official, paper):
        value = loss.compute(one_head)
        assert float(value) == 0.0 and value.requires_grad


def _affinity(centers, reduction='mean'):
    loss = AffinityLoss(num_centers=len(centers), feat_dim=2, reduction=reduction)
    with torch.no_grad():
        loss.centers.copy_(torch.tensor(centers))
    return loss


def test_affinity_loss_values():
    # pooled features x1 = (1, 0) label 0, x2 = (2, 2) label 1, given as 2×2 maps (GAP inside)
    maps = torch.tensor([[1., 0.], [2., 2.]])[:, :, None, None].expand(2, 2, 2, 2)
    target = torch.tensor([0, 1])
    centers = [[0., 0.], [2., 0.], [0., 2.]]
    mean = _affinity(centers)
    assert mean.loss_name == 'loss_affinity'
    # σ² = 4/3 + 4/3 = 8/3; distances 1 and 4 → (1 + 4)/(8/3)/2; clamp adds (K−1)·1e−12
    value = mean(dict(backbone_map=maps), target)
    assert float(value) == pytest.approx(0.9375 + 2e-12, abs=1e-7)
    assert float(_affinity(centers, 'sum').compute(maps, target)) == pytest.approx(1.875,
                                                                                   abs=1e-7)
    # a never-used 4th center (the "8 centers for 7 classes" case): σ² = 22/3
    four = _affinity(centers + [[4., 4.]])
    assert float(four.compute(maps, target)) == pytest.approx(0.340909, abs=1e-6)
    # gradients reach the centers (used and unused: the unused one only through σ²)
    four.compute(maps, target).backward()
    assert four.centers.grad is not None
    assert float(four.centers.grad[3].abs().sum()) > 0


def test_affinity_loss_rejects_out_of_range_labels():
    loss = AffinityLoss(num_centers=3, feat_dim=2)
    with pytest.raises(ValueError, match='num_centers'):
        loss.compute(torch.zeros(2, 2), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='feat_dim'):
        loss.compute(torch.zeros(2, 5), torch.tensor([0, 1]))


def test_dan_head_options():
    feats = dict(feat=torch.randn(4, 512))
    plain = MODELS.build(dict(type='DANHead', num_classes=7, bn_on_logits=False,
                              losses=[dict(type='FERCrossEntropyLoss')]))
    assert isinstance(plain.bn, torch.nn.Identity)
    assert torch.allclose(plain(feats), plain.fc(feats['feat']))
    head = MODELS.build(dict(type='DANHead', num_classes=7))
    head.train()
    out = head(feats)
    # BatchNorm1d on the logits (weight 1, bias 0): per-class batch mean 0
    assert torch.allclose(out.mean(0), torch.zeros(7), atol=1e-5)
    with pytest.raises(ValueError, match='drop_last'):
        head(dict(feat=torch.randn(1, 512)))


# ----------------------------------------------------------------------------- training


def test_training_step_updates_centers_with_official_sgd(rafdb):
    cfg, model = rafdb
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    centers = model.head.losses[1].centers
    in_optimizer = [p for g in optim_wrapper.optimizer.param_groups for p in g['params']]
    assert any(p is centers for p in in_optimizer)
    group = optim_wrapper.optimizer.param_groups[0]
    assert (group['lr'], group['momentum'], group['weight_decay']) == (0.1, 0.9, 1e-4)

    torch.manual_seed(2)
    inputs = torch.randn(4, 3, 64, 64)  # ResNet-18 at 64 px: 2×2 map, cheap
    losses = model.loss(inputs, samples([0, 3, 6, 3]))
    assert set(losses) == {'loss_ce', 'loss_affinity', 'loss_partition'}
    assert all(torch.isfinite(v) for v in losses.values())
    # the affinity loss reaches the backbone and the centers, not the attention heads
    neck_params = list(model.neck.parameters())
    grads = torch.autograd.grad(losses['loss_affinity'], neck_params + [centers],
                                retain_graph=True, allow_unused=True)
    assert all(g is None for g in grads[:-1]) and float(grads[-1].abs().sum()) > 0

    before = centers.detach().clone()
    optim_wrapper.zero_grad()
    optim_wrapper.backward(sum(losses.values()))
    grad = centers.grad.detach().clone()
    optim_wrapper.step()
    # first SGD step with momentum: c ← c − lr·(g + wd·c)
    assert torch.allclose(centers.detach(), before - 0.1 * (grad + 1e-4 * before), atol=1e-6)
    assert float(grad[7].abs().sum()) > 0  # the 8th center moves through σ² only


@pytest.mark.parametrize('num_heads', [1, 2])
def test_num_heads_from_cfg_options(num_heads):
    cfg, model = build_from_config(RAFDB_CFG, {'model.neck.num_heads': num_heads})
    assert count_parameters(model) == TOTAL_BY_HEADS[num_heads]
    model.train()
    torch.manual_seed(3)
    feats = model.extract_feat(torch.randn(2, 3, 64, 64))
    assert tuple(feats['head_feats'].shape) == (2, num_heads, 512)
    losses = model.head.loss(feats, samples([1, 2]))
    if num_heads == 1:
        assert float(losses['loss_partition']) == 0.0
    else:
        assert float(losses['loss_partition']) > 0


@pytest.mark.parametrize('name', ['affectnet7', 'affectnet8', 'sfew', 'synthfer'])
def test_other_configs_build(name):
    cfg = Config.fromfile(osp.join(ROOT, f'configs/dan/dan_r18_{name}.py'))
    assert cfg.train_dataloader.drop_last is True
    c = cfg.model.head.num_classes
    assert cfg.model.data_preprocessor.num_classes == c
    affinity = [loss for loss in cfg.model.head.losses if loss.type == 'AffinityLoss'][0]
    assert affinity.num_centers == c
    if name != 'synthfer':  # official init: MS-Celeb weights, strictly into the backbone
        assert cfg.model.pretrained == dict(
            checkpoint='checkpoints/resnet18_msceleb_mmfer.pth', prefix='backbone.')
    if name == 'synthfer':
        model = MODELS.build(cfg.model)
        # the reduced neck follows the 256-channel backbone
        assert model.neck.in_channels == 256 == model.head.in_channels
        model.eval()
        with torch.no_grad():
            feats = model.extract_feat(torch.randn(2, 3, 64, 64))
        assert tuple(feats['backbone_map'].shape) == (2, 256, 2, 2)
        assert tuple(model.head(feats).shape) == (2, 7)
    if name.startswith('affectnet'):
        assert cfg.train_dataloader.sampler.type == 'ClassBalancedSampler'
        assert cfg.optim_wrapper.optimizer.type == 'Adam'
        assert cfg.param_scheduler.gamma == 0.6 and cfg.train_cfg.max_epochs == 10
        assert c == int(name[-1])


def test_paper_variants_from_cfg_options():
    """The spec §8 options are reachable from --cfg-options (list entries by index)."""
    cfg = Config.fromfile(RAFDB_CFG)
    cfg.merge_from_dict({'model.head.losses.1.num_centers': 7,
                         'model.head.losses.1.reduction': 'sum',
                         'model.head.losses.2.mode': 'paper',
                         'model.head.bn_on_logits': False})
    head = MODELS.build(cfg.model.head)
    assert isinstance(head.bn, torch.nn.Identity)
    assert head.losses[1].centers.shape == (7, 512) and head.losses[1].reduction == 'sum'
    assert head.losses[2].mode == 'paper'
