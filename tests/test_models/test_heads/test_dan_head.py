"""DANHead: parameter count for 8 classes, default loss set, BN-on-logits option, paper variants
reachable from --cfg-options.

Numbers are the acceptance facts of specs/dan.md (moved from tests/test_models/test_dan.py).
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmfer.registry import MODELS
from mmfer.utils.params import count_parameters

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
RAFDB_CFG = osp.join(ROOT, 'configs/dan/dan_r18_rafdb.py')

BACKBONE = 11_176_512
PER_HEAD = 2_135_904


def test_parameter_count_eight_classes():
    head = MODELS.build(dict(type='DANHead', num_classes=8))
    assert count_parameters(head) == 4_120
    assert BACKBONE + 4 * PER_HEAD + count_parameters(head) == 19_724_248
    # the default loss set is the official one, with K = C centers
    assert [type(loss).__name__ for loss in head.losses] == [
        'FERCrossEntropyLoss', 'AffinityLoss', 'PartitionLoss']
    assert head.losses[1].centers.shape == (8, 512)


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
