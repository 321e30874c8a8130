import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mmfer.models.losses.base import BaseFERLoss
from mmfer.registry import MODELS


def tiny_classifier(**head_kw):
    head = dict(type='FERClsHead', num_classes=3, in_channels=64)
    head.update(head_kw)
    return MODELS.build(dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
        head=head))


def test_forward_modes_and_named_tensors():
    torch.manual_seed(0)
    model = tiny_classifier().eval()
    x = torch.randn(2, 3, 32, 32)
    feats = model.extract_feat(x)
    assert feats['backbone_map'].shape == (2, 64, 1, 1)
    assert feats['feat'].shape == (2, 64)
    torch.testing.assert_close(feats['feat'], feats['backbone_map'].mean((2, 3)))
    logits = model(x, mode='tensor')
    assert logits.shape == (2, 3)
    preds = model(x, mode='predict')
    assert len(preds) == 2
    torch.testing.assert_close(preds[0].pred_score, logits[0].softmax(0))
    assert int(preds[0].pred_label) == int(logits[0].argmax())
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(x, mode='bogus')


def test_ce_loss_value_and_log_name():
    model = tiny_classifier()
    head = model.head
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
    samples = [DataSample().set_gt_label(0), DataSample().set_gt_label(2)]
    losses = head.loss(dict(feat=torch.randn(2, 64)), samples)
    assert list(losses) == ['loss_ce']
    lse = math.log(1 + math.e + math.e ** 2)
    expected = ((lse - 0.0) + (lse - 2.0)) / 2
    assert abs(losses['loss_ce'].item() - expected) < 1e-6


def test_loss_weight_and_missing_tensor_error():

    @MODELS.register_module(force=True)
    class _FeatNormLoss(BaseFERLoss):
        consumes = ('feat', 'attn_maps')
        default_name = 'loss_featnorm'

        def compute(self, feat, attn, target):
            return feat.pow(2).sum(1).mean()

    head = MODELS.build(dict(type='FERClsHead', num_classes=3, in_channels=2, losses=[
        dict(type='FERCrossEntropyLoss'), dict(type='_FeatNormLoss', loss_weight=0.5)]))
    samples = [DataSample().set_gt_label(1)]
    feat = torch.tensor([[3.0, 4.0]])
    losses = head.loss(dict(feat=feat, attn_maps=torch.zeros(1)), samples)
    assert abs(float(losses['loss_featnorm']) - 12.5) < 1e-6
    with pytest.raises(KeyError, match="missing \\['attn_maps'\\]"):
        head.loss(dict(feat=feat), samples)


def test_neck_must_return_feat():

    @MODELS.register_module(force=True)
    class _BadNeck(torch.nn.Module):
        def forward(self, x):
            return x[-1]

    model = MODELS.build(dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
        neck=dict(type='_BadNeck'),
        head=dict(type='FERClsHead', num_classes=3, in_channels=64)))
    with pytest.raises(TypeError, match='"feat"'):
        model.eval().extract_feat(torch.zeros(1, 3, 32, 32))


def test_duplicate_loss_names_rejected():
    with pytest.raises(ValueError, match='share a log name'):
        MODELS.build(dict(type='FERClsHead', num_classes=3, in_channels=4, losses=[
            dict(type='FERCrossEntropyLoss'), dict(type='FERCrossEntropyLoss')]))
