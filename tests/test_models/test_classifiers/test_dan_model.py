"""The DAN model built from its configs (ResNet-18 + MultiHeadCrossAttention + DANHead): parameter
counts, forward shapes, the training step with the official SGD, config variants.

The neck, head and loss unit tests are in test_necks/test_man_afn.py, test_heads/test_dan_head.py,
test_losses/test_affinity.py and test_losses/test_partition.py.

Numbers are the acceptance facts of specs/dan.md.
"""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmfer.apis import model_config
from mmfer.registry import MODELS
from mmfer.utils.params import count_parameters, count_parameters_by_module

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
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
    assert cfg.train_dataloader.get('drop_last', False) is False  # official: last batch kept
    c = cfg.model.head.num_classes
    # the top-level data_preprocessor, merged into the model as the Runner does
    assert model_config(cfg).data_preprocessor.num_classes == c
    affinity = [loss for loss in cfg.model.head.losses if loss.type == 'AffinityLoss'][0]
    # official K: affectnet.py passes the class count, otherwise the default 8
    assert affinity.num_centers == (c if name.startswith('affectnet') else 8)
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
