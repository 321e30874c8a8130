"""LAN guidance loss (GuidanceBCELoss, guidance_bce.py): the BCE toy of specs/lan.md, target
declaration, no gradient into G, probability and logit forms, and the head's loss dict."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mmfer.models.losses.guidance_bce import GuidanceBCELoss
from mmfer.registry import MODELS


def logit(p):
    return math.log(p / (1 - p))


def toy():
    # F_m = (0.5, 0.8) at two positions, G = (1, 0)
    a = torch.tensor([[[[logit(0.5), logit(0.8)]]]])  # 1×1×1×2
    g = torch.tensor([[[1., 0.]]])  # 1×1×2 (H×W per sample)
    return a, g


def test_bce_toy_of_the_spec():
    a, g = toy()
    expected = (math.log(2) + math.log(5)) / 2
    assert expected == pytest.approx(1.151293, abs=1e-6)
    raw = GuidanceBCELoss(loss_weight=1.0)
    assert float(raw.compute(a, g)) == pytest.approx(1.151293, abs=1e-6)
    loss = GuidanceBCELoss()  # α = 0.5
    assert loss.loss_weight == 0.5 and loss.loss_name == 'loss_map'
    value = loss(dict(attn_logits=a), dict(guidance_map=g))
    assert float(value) == pytest.approx(0.575646, abs=1e-6)
    prob = GuidanceBCELoss(on_probabilities=True)
    assert float(prob(dict(attn_logits=a), dict(guidance_map=g))) == pytest.approx(0.575646,
                                                                                   abs=1e-6)


def test_declares_the_guidance_field_and_gets_no_gradient_into_g():
    assert GuidanceBCELoss.consumes == ('attn_logits', )
    assert GuidanceBCELoss.target_fields == ('guidance_map', )
    a, g = toy()
    a.requires_grad_(True)
    g.requires_grad_(True)
    GuidanceBCELoss().compute(a, g).backward()
    assert g.grad is None
    # d/dA of α·mean BCE = α·(σ(A) − G)/2
    assert torch.allclose(a.grad.flatten(), torch.tensor([(0.5 - 1) / 2, 0.8 / 2]), atol=1e-6)


def test_missing_field_and_wrong_shape_name_the_fix():
    a, _ = toy()
    with pytest.raises(KeyError, match='guidance_map'):
        GuidanceBCELoss()(dict(attn_logits=a), dict(gt_label=torch.tensor([0])))
    with pytest.raises(ValueError, match='GuidanceMapHook'):
        GuidanceBCELoss().compute(a, torch.zeros(1, 7, 7))


def test_head_logs_loss_ce_and_loss_map_from_data_samples():
    head = MODELS.build(dict(type='FERClsHead', num_classes=3, in_channels=4, losses=[
        dict(type='FERCrossEntropyLoss'), dict(type='GuidanceBCELoss', loss_weight=0.5)]))
    assert head.target_fields == (('gt_label', 'guidance_map'), ('gt_score', ))
    torch.nn.init.zeros_(head.fc.weight)
    torch.nn.init.zeros_(head.fc.bias)
    a, g = toy()
    feats = dict(feat=torch.zeros(1, 4), attn_logits=a)
    ds = DataSample().set_gt_label(1)
    ds.guidance_map = g[0]
    losses = head.loss(feats, [ds])
    assert sorted(losses) == ['loss_ce', 'loss_map']
    assert float(losses['loss_ce']) == pytest.approx(math.log(3), abs=1e-6)  # zero logits
    assert float(losses['loss_map']) == pytest.approx(0.575646, abs=1e-6)
