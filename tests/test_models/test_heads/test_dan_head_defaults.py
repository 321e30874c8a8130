"""DAN's affinity centers default to the official K = 8 (issue 10, item 13).

The official ``AffinityLoss(num_class=8)`` default is what rafdb.py uses for RAF-DB's 7 classes
(the released 89.70 % model); affectnet.py passes ``num_class=args.num_class``. K = C, the
paper's one center per class, is the named option ``affinity_centers='num_classes'``.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmfer.models.heads.dan_head import dan_default_losses, dan_num_centers
from mmfer.registry import MODELS
from mmfer.utils.params import count_parameters

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def affinity(head):
    return [loss for loss in head.losses if type(loss).__name__ == 'AffinityLoss'][0]


def test_default_losses_official_k8():
    assert [d['num_centers'] for d in dan_default_losses(7, 512) if d['type'] == 'AffinityLoss'] \
        == [8]
    head = MODELS.build(dict(type='DANHead', num_classes=7))
    assert affinity(head).centers.shape == (8, 512)
    assert [type(loss).__name__ for loss in head.losses] == [
        'FERCrossEntropyLoss', 'AffinityLoss', 'PartitionLoss']
    # the centers are loss state: the parameter count is that of fc + bn (512·7 + 7 + 2·7)
    assert count_parameters(head) == 3_605
    paper = MODELS.build(dict(type='DANHead', num_classes=7, in_channels=64,
                              affinity_centers='num_classes'))
    assert affinity(paper).centers.shape == (7, 64)
    assert count_parameters(paper) == count_parameters(
        MODELS.build(dict(type='DANHead', num_classes=7, in_channels=64)))


def test_num_centers_rule():
    assert [dan_num_centers(c) for c in (2, 7, 8, 11)] == [8, 8, 8, 11]
    assert [dan_num_centers(c, 'num_classes') for c in (2, 7, 8, 11)] == [2, 7, 8, 11]
    with pytest.raises(ValueError, match=r"affinity_centers must be one of \('official', "
                                         r"'num_classes'\), got 'paper'"):
        dan_num_centers(7, 'paper')


def test_affinity_centers_with_explicit_losses_raises():
    with pytest.raises(ValueError, match='applies to the default loss set only.*Fix: set '
                                         'num_centers in their AffinityLoss'):
        MODELS.build(dict(type='DANHead', num_classes=7, affinity_centers='num_classes',
                          losses=[dict(type='FERCrossEntropyLoss')]))


def test_eight_centers_with_seven_classes_loss_value():
    """K = 8 on 7 classes: the 8th center is never pulled but enters σ² (hand-computed)."""
    head = MODELS.build(dict(type='DANHead', num_classes=7, in_channels=4))
    loss = affinity(head)
    with torch.no_grad():
        loss.centers.zero_()
        loss.centers[7] = torch.tensor([8., 0., 0., 0.])
    # σ² = Σ_j unbiased Var_k: only dimension 0 varies, Var([0]·7 + [8]) = (7·1 + 49) / 7 = 8
    assert float(loss.centers.var(dim=0).sum()) == pytest.approx(8.0)
    x = torch.tensor([[1., 0., 0., 0.], [0., 2., 0., 0.]])
    # L = (1/N) Σ_n ‖x_n − c_{y_n}‖² / σ² = (1 + 4) / 2 / 8 (+ 7·1e-12 from the clamp)
    value = loss.compute(x, torch.tensor([0, 3]))
    assert float(value) == pytest.approx(5 / 16)


@pytest.mark.parametrize('name,classes,k', [
    ('rafdb', 7, 8),        # official rafdb.py: AffinityLoss default num_class=8
    ('affectnet7', 7, 7),   # official affectnet.py: num_class=args.num_class
    ('affectnet8', 8, 8),
    ('sfew', 7, 8),         # no official code: the default
    ('synthfer', 7, 8),     # mmfer's demo recipe: the default
])
def test_every_dan_config_resolved_num_centers(name, classes, k):
    cfg = Config.fromfile(osp.join(ROOT, f'configs/dan/dan_r18_{name}.py'))
    losses = [loss for loss in cfg.model.head.losses if loss.type == 'AffinityLoss']
    assert cfg.model.head.num_classes == classes
    assert [loss.num_centers for loss in losses] == [k]
    assert losses[0].feat_dim == cfg.model.head.in_channels


def test_base_model_config_default_and_paper_option():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/models/dan_r18.py'))
    assert cfg.model.head.losses[1].num_centers == 8
    cfg.merge_from_dict({'model.head.losses.1.num_centers': 7})
    head = MODELS.build(cfg.model.head)
    assert affinity(head).centers.shape == (7, 512)
