"""FlipConsistencyLoss (dacfer.md acceptance facts): flip toy, consistency toy, identical views."""
import pytest
import torch

from mmfer.models.losses.flip_consistency import FlipConsistencyLoss
from mmfer.models.losses.base import FERCrossEntropyLoss, apply_losses
from mmfer.models.losses.flip_consistency import flip_cam

pytestmark = pytest.mark.usefixtures('one_thread')


def test_flip_of_a_7x7_column_ramp_and_twice_identity():
    m = torch.arange(7.).expand(7, 7).clone()  # column j holds j
    f = flip_cam(m)
    assert torch.equal(f[:, 0], torch.full((7, ), 6.))
    for j in range(7):
        assert torch.equal(f[:, j], torch.full((7, ), 6. - j))
    assert torch.equal(flip_cam(f), m)


def test_flip_equals_eac_grid_sample_flip():
    """EAC flips with grid_sample (bilinear, border, align_corners=True, negated x): the same."""
    g = torch.Generator().manual_seed(0)
    m = torch.randn(2, 7, 7, 7, generator=g)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 7), torch.linspace(-1, 1, 7), indexing='ij')
    grid = torch.stack([-xs, ys], -1).expand(2, 7, 7, 2)
    ref = torch.nn.functional.grid_sample(m, grid, mode='bilinear', padding_mode='border',
                                          align_corners=True)
    assert torch.allclose(flip_cam(m), ref, atol=1e-6)


def toy_views():
    cam = torch.tensor([1., 2., 3.]).view(1, 1, 1, 3)
    cam_flip_view = torch.tensor([1., 0., 0.]).view(1, 1, 1, 3)
    return [dict(cam=cam), dict(cam=cam_flip_view)]


def test_consistency_toy_mse_3_and_l2_norm_1():
    """M = (1, 2, 3), M′ = (1, 0, 0) → Flip(M′) = (0, 0, 1), difference (1, 2, 2)."""
    mse = FlipConsistencyLoss()
    assert mse.loss_name == 'loss_flip' and mse.loss_weight == 1.0 and mse.views == (0, 1)
    assert mse(toy_views()).item() == pytest.approx(3.0, abs=1e-7)
    assert FlipConsistencyLoss(mode='l2_norm')(toy_views()).item() == pytest.approx(1.0,
                                                                                    abs=1e-7)
    assert FlipConsistencyLoss(loss_weight=5.0)(toy_views()).item() == pytest.approx(15.0)


def test_total_is_ce_plus_3_with_lambda_1():
    logits = torch.tensor([[2.0, -1.0]])
    views = toy_views()
    views[0]['logits'] = logits
    views[1]['logits'] = torch.tensor([[9.0, -9.0]])  # the flipped view's logits are unused
    targets = [dict(gt_label=torch.tensor([1]))] * 2
    out = apply_losses([FERCrossEntropyLoss(views=(0, )), FlipConsistencyLoss()], views, targets)
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([1]))
    assert out['loss_ce'].item() == pytest.approx(ce.item())
    assert out['loss_flip'].item() == pytest.approx(3.0)
    assert sum(out.values()).item() == pytest.approx(ce.item() + 3.0)


@pytest.mark.parametrize('mode', ['mse', 'l2_norm'])
def test_identical_views_give_zero_and_finite_gradient(mode):
    g = torch.Generator().manual_seed(2)
    cam = torch.randn(3, 7, 7, 7, generator=g, requires_grad=True)
    other = flip_cam(cam.detach()).requires_grad_(True)  # M′ = Flip(M)
    loss = FlipConsistencyLoss(mode=mode)([dict(cam=cam), dict(cam=other)])
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(cam.grad).all() and torch.isfinite(other.grad).all()


def test_l2_norm_is_literal_eq4_on_random_maps():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(2, 4, 3, 5, 5, generator=g)
    d = a - b.flip(-1)
    ref = sum(torch.sqrt((d[n, k] ** 2).sum()) for n in range(4) for k in range(3)) / d.numel()
    got = FlipConsistencyLoss(mode='l2_norm')([dict(cam=a), dict(cam=b)])
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="'mse', 'l2_norm'"):
        FlipConsistencyLoss(mode='l1')
    with pytest.raises(ValueError, match='views=\\(0, 1\\)'):
        FlipConsistencyLoss(views=(0, ))
    with pytest.raises(ValueError, match='one shape'):
        FlipConsistencyLoss()([dict(cam=torch.zeros(1, 1, 2, 2)), dict(cam=torch.zeros(1, 1, 2, 3))])
