"""PartitionLoss (DAN, partition.py): official and paper modes on a hand-computed case.

Numbers are the acceptance facts of specs/dan.md (moved from tests/test_models/test_dan.py).
"""
import pytest
import torch

from mmfer.models.losses.partition import PartitionLoss
from mmfer.models.necks.man_afn import attention_fusion


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
