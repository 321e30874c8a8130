"""AffinityLoss (DAN, affinity.py): hand-computed values, reductions, unused centers, errors.

Numbers are the acceptance facts of specs/dan.md (moved from tests/test_models/test_dan.py).
"""
import pytest
import torch

from mmfer.models.losses.affinity import AffinityLoss


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
