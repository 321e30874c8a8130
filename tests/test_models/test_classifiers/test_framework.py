"""The framework layer (issue 9): targets beyond gt_label, losses on declared views, multi-view
training, auxiliary (frozen) networks, mmpretrain necks and batch augments."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmfer.models.losses.base import BaseFERLoss, apply_losses
from mmfer.models.targets import gather_targets, view_targets
from mmfer.registry import MODELS

pytestmark = pytest.mark.usefixtures('one_thread')

TINY_R18 = dict(type='ResNet_CIFAR', depth=18, num_stages=4, out_indices=(3, ),
                stem_channels=4, base_channels=4)          # N×32×h×w maps


def samples(labels, **fields):
    out = []
    for i, y in enumerate(labels):
        ds = DataSample().set_gt_label(int(y))
        for name, values in fields.items():
            ds.set_field(values[i], name)
        out.append(ds)
    return out


# ----------------------------------------------------------------------------- targets


def test_gather_targets_stacks_labels_maps_and_numbers():
    ds = samples([0, 2], neg_label=[torch.tensor([1]), torch.tensor([0])],
                 guidance_map=[torch.zeros(7, 7), torch.ones(7, 7)],
                 clean_label=[3, 4])
    t = gather_targets(ds, ['gt_label', 'neg_label', 'guidance_map', 'clean_label'])
    assert t['gt_label'].tolist() == [0, 2] and t['gt_label'].dtype == torch.long
    assert t['neg_label'].tolist() == [1, 0]
    assert t['clean_label'].tolist() == [3, 4]
    assert t['guidance_map'].shape == (2, 7, 7) and t['guidance_map'][1].sum() == 49
    # optional fields are taken only when present
    assert set(gather_targets(ds, ['gt_label'], optional=['gt_score'])) == {'gt_label'}


def test_gather_targets_errors():
    with pytest.raises(KeyError, match="'neg_label'.*PackInputs"):
        gather_targets(samples([0, 1]), ['gt_label', 'neg_label'])
    partial = samples([0, 1])
    partial[0].set_field(torch.tensor([1]), 'neg_label')
    with pytest.raises(ValueError, match='set on 1 of 2 samples'):
        gather_targets(partial, ['neg_label'])
    with pytest.raises(ValueError, match='different shapes'):
        gather_targets(samples([0, 1], m=[torch.zeros(2), torch.zeros(3)]), ['m'])


def test_view_targets_swap_gt_label_per_view():
    t = dict(gt_label=torch.tensor([0, 1]), neg_label=torch.tensor([2, 2]))
    per_view = view_targets(t, ('gt_label', 'neg_label'))
    assert per_view[0]['gt_label'].tolist() == [0, 1]
    assert per_view[1]['gt_label'].tolist() == [2, 2]
    assert per_view[1]['neg_label'] is t['neg_label']


class _FeatMSE(BaseFERLoss):
    """Toy cross-view loss: mean squared difference of ``feat`` between the first two views."""
    consumes = ('feat', )
    target_fields = ()
    multi_view = True
    default_name = 'loss_consistency'

    def compute(self, feats):
        return ((feats[0] - feats[1]) ** 2).mean()


class _NegLabelCE(BaseFERLoss):
    """CE against the negatives' label: a loss that reads a field other than gt_label."""
    consumes = ('logits', )
    target_fields = ('neg_label', )
    default_name = 'loss_neg'

    def compute(self, logits, neg_label):
        return F.cross_entropy(logits, neg_label)


def test_apply_losses_views_reduction_and_fields():
    logits = [torch.randn(3, 4, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    outs = [dict(logits=z, feat=z * 2) for z in logits]
    y = torch.tensor([0, 1, 3])
    neg = torch.tensor([2, 2, 0])
    tg = [dict(gt_label=y, neg_label=neg)] * 3
    ce0 = MODELS.build(dict(type='FERCrossEntropyLoss', views=(0, ), loss_name='loss_v0'))
    ce_all = MODELS.build(dict(type='FERCrossEntropyLoss', loss_weight=0.5))
    ce_sum = MODELS.build(dict(type='FERCrossEntropyLoss', views=(1, 2), view_reduction='sum',
                               loss_name='loss_sum'))
    out = apply_losses([ce0, ce_all, ce_sum, _FeatMSE(views=(0, 2)), _NegLabelCE(views=(1, ))],
                       outs, tg)
    ce = [F.cross_entropy(z, y) for z in logits]
    assert torch.allclose(out['loss_v0'], ce[0])
    assert torch.allclose(out['loss_ce'], 0.5 * (ce[0] + ce[1] + ce[2]) / 3)
    assert torch.allclose(out['loss_sum'], ce[1] + ce[2])
    assert torch.allclose(out['loss_consistency'], ((outs[0]['feat'] - outs[2]['feat']) ** 2).mean())
    assert torch.allclose(out['loss_neg'], F.cross_entropy(logits[1], neg))
    with pytest.raises(ValueError, match=r'views \[0, 5\].*3 view'):
        apply_losses([MODELS.build(dict(type='FERCrossEntropyLoss', views=(0, 5)))], outs, tg)
    with pytest.raises(KeyError, match="needs the data-sample field.*neg_label"):
        _NegLabelCE()(outs[0], dict(gt_label=y))


# ----------------------------------------------------------------------------- soft targets


def test_mixup_through_train_cfg_augments_trains_on_gt_score():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='FERClassifier', backbone=TINY_R18,
        head=dict(type='FERClsHead', num_classes=3, in_channels=32),
        train_cfg=dict(augments=[dict(type='Mixup', alpha=1.0)])))
    assert model.data_preprocessor.num_classes == 3
    data = dict(inputs=[torch.rand(3, 16, 16) * 255 for _ in range(4)],
                data_samples=samples([0, 1, 2, 0]))
    torch.manual_seed(1)
    batch = model.data_preprocessor(data, True)
    scores = torch.stack([ds.gt_score for ds in batch['data_samples']])
    assert scores.shape == (4, 3) and not torch.equal(scores, F.one_hot(
        torch.tensor([0, 1, 2, 0]), 3).float())   # mixed, not one-hot
    model.eval()  # same BN statistics for the loss and the reference logits
    losses = model.loss(batch['inputs'], batch['data_samples'])
    logits = model(batch['inputs'])
    soft_ce = -(scores * F.log_softmax(logits, 1)).sum(1).mean()
    hard_ce = F.cross_entropy(logits, torch.tensor([0, 1, 2, 0]))
    assert torch.allclose(losses['loss_ce'], soft_ce, atol=1e-6)
    assert not torch.allclose(losses['loss_ce'], hard_ce, atol=1e-4)


def test_hard_label_loss_refuses_soft_targets():
    loss = MODELS.build(dict(type='AffinityLoss', num_centers=3, feat_dim=4))
    outputs = dict(backbone_map=torch.randn(2, 4, 2, 2))
    with pytest.raises(ValueError, match='AffinityLoss.*soft targets.*gt_score'):
        loss(outputs, dict(gt_label=torch.tensor([0, 1]), gt_score=torch.full((2, 3), 1 / 3)))


# ----------------------------------------------------------------------------- mmpretrain neck


def test_mmpretrain_tuple_neck():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='FERClassifier', backbone=TINY_R18,
                              neck=dict(type='GlobalAveragePooling'),
                              head=dict(type='FERClsHead', num_classes=3, in_channels=32)))
    x = torch.randn(2, 3, 16, 16)
    feats = model.extract_feat(x)
    assert torch.allclose(feats['feat'], feats['backbone_map'].mean(dim=(2, 3)), atol=1e-6)
    assert model(x).shape == (2, 3)


# ----------------------------------------------------------------------------- multi-view


def two_view_model(**kw):
    cfg = dict(type='MultiViewClassifier', backbone=TINY_R18, num_views=2,
               head=dict(type='FERClsHead', num_classes=3, in_channels=32,
                         losses=[dict(type='FERCrossEntropyLoss', views=(0, ))]))
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def test_multi_view_ce_on_view_zero_only_and_separate_bn():
    model = two_view_model()
    x = torch.randn(2, 2, 3, 16, 16)
    model.eval()
    losses = model.loss(x, samples([0, 2]))
    assert set(losses) == {'loss_ce'}
    ref = F.cross_entropy(model(x[:, 0]), torch.tensor([0, 2]))
    assert torch.allclose(losses['loss_ce'], ref, atol=1e-6)
    # training: one backbone call per view → BatchNorm statistics per view
    model.train()
    model.loss(x, samples([0, 2]))
    assert model.backbone.bn1.num_batches_tracked.item() == 2
    joint = two_view_model(branch_bn='joint').train()
    joint.loss(x, samples([0, 2]))
    assert joint.backbone.bn1.num_batches_tracked.item() == 1
    with pytest.raises(ValueError, match='N×2×3×H×W'):
        model.loss(torch.randn(2, 3, 16, 16), samples([0, 2]))
    with pytest.raises(ValueError, match='base network'):
        model(x, mode='predict')


@MODELS.register_module(force=True)
class _ToyCrossStage(BaseModule):
    """Training-only stage for the test: per view, feat = own feat + mean feat of all views."""

    def forward(self, feats):
        mean = torch.stack([f['feat'] for f in feats]).mean(0)
        return [dict(feat=f['feat'] + mean) for f in feats]


def test_cross_stage_head_and_view_label_fields():
    model = two_view_model(
        view_label_fields=('gt_label', 'neg_label'),
        head=dict(type='FERClsHead', num_classes=3, in_channels=32),
        cross_neck=dict(type='_ToyCrossStage'),
        cross_head=dict(type='FERClsHead', num_classes=3, in_channels=32,
                        losses=[dict(type='FERCrossEntropyLoss', loss_name='loss_cross')])).eval()
    assert model.train_label_fields == ('neg_label', )
    x = torch.randn(2, 2, 3, 16, 16)
    y, neg = torch.tensor([0, 1]), torch.tensor([2, 2])
    losses = model.loss(x, samples(y.tolist(), neg_label=[torch.tensor([2])] * 2))
    f = [model.extract_feat(x[:, i])['feat'] for i in range(2)]
    base = (F.cross_entropy(model.head.fc(f[0]), y) + F.cross_entropy(model.head.fc(f[1]), neg)) / 2
    mean = (f[0] + f[1]) / 2
    cross = (F.cross_entropy(model.cross_head.fc(f[0] + mean), y)
             + F.cross_entropy(model.cross_head.fc(f[1] + mean), neg)) / 2
    assert torch.allclose(losses['loss_ce'], base, atol=1e-6)
    assert torch.allclose(losses['loss_cross'], cross, atol=1e-6)
    base_model = model.inference_model()
    assert type(base_model).__name__ == 'FERClassifier' and base_model.head is model.head
    assert not any(k.startswith('cross_') for k in base_model.state_dict())


def test_qcs_preset_equals_its_multi_view_config():
    """QCSClassifier is a preset: the same model written as a MultiViewClassifier config has the
    same modules, parameter names and losses."""
    tiny = dict(
        backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=3, out_indices=(0, 1, 2),
                      strides=(1, 2, 2), dilations=(1, 1, 1), stem_channels=8, base_channels=8),
        neck=dict(type='POSTERBase', in_channels=(8, 16, 32), embed_dim=16, num_tokens=12,
                  vit=dict(depth=1, num_heads=2, mlp_ratio=2.)),
        head=dict(type='FERClsHead', num_classes=3, in_channels=16,
                  losses=[dict(type='FERCrossEntropyLoss', loss_weight=0.5,
                               loss_name='loss_base')]))
    torch.manual_seed(0)
    preset = MODELS.build(dict(copy.deepcopy(tiny), type='QCSClassifier',
                               cross_vit=dict(num_heads=2, mlp_ratio=2.)))
    explicit = MODELS.build(dict(
        copy.deepcopy(tiny), type='MultiViewClassifier', num_views=4,
        view_label_fields=('gt_label', 'gt_label', 'neg_label', 'neg_label'),
        cross_neck=dict(type='QCSCrossStage', embed_dim=16, num_tokens=12,
                        csa=dict(mode='qcs_sd'), vit=dict(num_heads=2, mlp_ratio=2.)),
        cross_head=dict(type='FERClsHead', num_classes=3, in_channels=16,
                        losses=[dict(type='FERCrossEntropyLoss', loss_weight=0.5,
                                     loss_name='loss_cross')])))
    explicit.load_state_dict(preset.state_dict(), strict=True)
    preset.eval(), explicit.eval()
    x = torch.randn(2, 4, 3, 16, 16)
    ds = samples([0, 1], neg_label=[torch.tensor([2])] * 2)
    a, b = preset.loss(x, ds), explicit.loss(x, ds)
    assert set(a) == set(b) == {'loss_base', 'loss_cross'}
    for k in a:
        assert torch.equal(a[k], b[k])


# ----------------------------------------------------------------------------- auxiliary nets


@MODELS.register_module(force=True)
class _AuxUsingNeck(BaseModule):
    """feat = GAP(backbone map) + GAP(aux map) — a neck that consumes an auxiliary network."""
    uses_aux = True

    def forward(self, x, aux):
        return dict(feat=x[-1].mean(dim=(2, 3)) + aux['ref'][-1].mean(dim=(2, 3)))


def aux_model(**aux_opts):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='FERClassifier', backbone=TINY_R18, neck=dict(type='_AuxUsingNeck'),
        aux_nets=dict(ref=dict(TINY_R18, **aux_opts)),
        head=dict(type='FERClsHead', num_classes=3, in_channels=32)))


def test_frozen_aux_net_is_frozen_through_a_training_step():
    model = aux_model(frozen=True)
    aux = model.aux_nets['ref']
    assert not any(p.requires_grad for p in aux.parameters())
    model.train()
    assert model.training and not aux.training and model.backbone.training
    before = {k: v.clone() for k, v in aux.state_dict().items()}
    wrapper = build_optim_wrapper(model, dict(
        constructor='FEROptimWrapperConstructor',
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9)))
    in_opt = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert not any(id(p) in in_opt for p in aux.parameters())
    assert len(in_opt) == sum(1 for p in model.parameters() if p.requires_grad)
    data = dict(inputs=[torch.rand(3, 16, 16) * 255 for _ in range(4)],
                data_samples=samples([0, 1, 2, 0]))
    backbone_before = model.backbone.conv1.weight.detach().clone()
    model.train_step(data, wrapper)
    assert not torch.equal(backbone_before, model.backbone.conv1.weight)
    after = aux.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN buffers
    assert after['bn1.num_batches_tracked'].item() == 0
    # its outputs are named tensors and reach the neck
    feats = model.extract_feat(torch.randn(2, 3, 16, 16))
    assert feats['aux.ref'][-1].shape == (2, 32, 2, 2) and not feats['aux.ref'][-1].requires_grad


def test_trainable_and_train_only_aux_nets():
    model = aux_model(frozen=False).train()
    assert all(p.requires_grad for p in model.aux_nets['ref'].parameters())
    assert model.aux_nets['ref'].training
    torch.manual_seed(0)
    ref_only = MODELS.build(dict(
        type='FERClassifier', backbone=TINY_R18, aux_nets=dict(ref=dict(TINY_R18, train_only=True)),
        head=dict(type='FERClsHead', num_classes=3, in_channels=32)))
    calls = []
    ref_only.aux_nets['ref'].register_forward_hook(lambda *a: calls.append(1))
    ref_only.eval()
    assert 'aux.ref' not in ref_only.extract_feat(torch.randn(1, 3, 16, 16)) and calls == []
    ref_only.train()
    assert 'aux.ref' in ref_only.extract_feat(torch.randn(2, 3, 16, 16)) and calls == [1]


def test_aux_pretrained_prefix_loads_strictly(tmp_path):
    torch.manual_seed(1)
    donor = MODELS.build(dict(type='FERClassifier', backbone=TINY_R18,
                              head=dict(type='FERClsHead', num_classes=3, in_channels=32)))
    path = str(tmp_path / 'donor.pth')
    torch.save(dict(state_dict=donor.state_dict()), path)
    model = aux_model(pretrained=dict(checkpoint=path, prefix='backbone.'))
    model.init_weights()
    for k, v in donor.backbone.state_dict().items():
        assert torch.equal(model.aux_nets['ref'].state_dict()[k], v)
    bad = aux_model(pretrained=dict(checkpoint=path, prefix='nothing.'))
    with pytest.raises(KeyError, match="no key starting with 'nothing.'"):
        bad.init_weights()
    wrong = aux_model(pretrained=dict(checkpoint=path, prefix=''))  # head.* keys are extra
    with pytest.raises(Exception, match='unexpected'):
        wrong.init_weights()


def test_ir50_frozen_stages_and_norm_eval():
    from mmfer.models.backbones.ir50 import IResNet
    net = IResNet(depth=50, num_stages=3, base_channels=8, frozen_stages=1).train()
    frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(('input_layer.', 'body1.')) for n in frozen)
    assert all(p.requires_grad for n, p in net.named_parameters() if n.startswith('body2.'))
    assert not net.input_layer.training and not net.body1.training and net.body2.training
    mean = net.input_layer[1].running_mean.clone()
    net(torch.randn(2, 3, 16, 16))
    assert torch.equal(mean, net.input_layer[1].running_mean)
    ne = IResNet(depth=50, num_stages=2, out_indices=(1, ), base_channels=8, norm_eval=True).train()
    bns = [m for m in ne.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns) and ne.body1.training
    with pytest.raises(ValueError, match='frozen_stages'):
        IResNet(num_stages=3, frozen_stages=4)
