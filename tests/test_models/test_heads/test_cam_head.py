"""CAMClsHead (dacfer.md §1.2 and the acceptance facts): CAM of all classes, detached weight."""
import pytest
import torch

from mmfer.models.heads.cam_head import CAMClsHead
from mmfer.registry import MODELS

pytestmark = pytest.mark.usefixtures('one_thread')


def toy_head(**kw):
    head = CAMClsHead(num_classes=2, in_channels=2, **kw)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[1., 0.], [1., -1.]]))
        head.fc.bias.fill_(5.)  # the CAM has no bias term
    return head


def toy_map(n=3, h=4, w=5):
    f = torch.empty(n, 2, h, w)
    f[:, 0] = 1.
    f[:, 1] = 2.
    return f


def test_cam_toy_values_and_shape():
    """Channel 0 ≡ 1, channel 1 ≡ 2, W = [[1, 0], [1, −1]] → M[:, 0] ≡ 1, M[:, 1] ≡ −1."""
    m = toy_head().cam(toy_map())
    assert m.shape == (3, 2, 4, 5)
    assert torch.equal(m[:, 0], torch.ones(3, 4, 5))
    assert torch.equal(m[:, 1], -torch.ones(3, 4, 5))


def test_cam_equals_sum_over_channels_random():
    g = torch.Generator().manual_seed(0)
    head = CAMClsHead(num_classes=7, in_channels=16)
    f = torch.randn(2, 16, 7, 7, generator=g)
    ref = (head.fc.weight[None, :, :, None, None] * f[:, None]).sum(2)
    assert torch.allclose(head.cam(f), ref, atol=1e-5)
    assert head.cam(f).shape == (2, 7, 7, 7)


def loss_of_cam_only(head):
    """Backpropagate Σ M through the CAM alone; return the feature map (with its grad)."""
    f = toy_map().requires_grad_(True)
    head.cam(f).sum().backward()
    return f


def test_detached_weight_gets_no_gradient_from_cam():
    head = toy_head()
    f = loss_of_cam_only(head)
    assert head.fc.weight.grad is None
    # the feature map does get it: dM/dF_c summed over k = Σ_k W_kc = (2, −1)
    assert torch.equal(f.grad[:, 0], torch.full((3, 4, 5), 2.))
    assert torch.equal(f.grad[:, 1], torch.full((3, 4, 5), -1.))


def test_undetached_weight_gets_the_cam_gradient():
    head = toy_head(detach_cam_weight=False)
    loss_of_cam_only(head)
    # d(Σ M)/dW_kc = Σ_{n,i,j} F_c = 3·4·5·(1, 2)
    assert torch.equal(head.fc.weight.grad, torch.tensor([[60., 120.], [60., 120.]]))


def test_flip_loss_does_not_reach_fc_when_detached_but_ce_does():
    head = MODELS.build(dict(
        type='CAMClsHead', num_classes=2, in_channels=2,
        losses=[dict(type='FERCrossEntropyLoss', views=(0, )),
                dict(type='FlipConsistencyLoss')]))
    g = torch.Generator().manual_seed(1)
    maps = [torch.randn(4, 2, 3, 3, generator=g, requires_grad=True) for _ in range(2)]
    feats = [dict(backbone_map=m, feat=m.mean((2, 3))) for m in maps]
    targets = [dict(gt_label=torch.tensor([0, 1, 1, 0]))] * 2
    losses = head.loss_views(feats, targets)
    assert sorted(losses) == ['loss_ce', 'loss_flip']
    losses['loss_flip'].backward(retain_graph=True)
    assert head.fc.weight.grad is None and head.fc.bias.grad is None
    assert maps[0].grad.abs().sum() > 0 and maps[1].grad.abs().sum() > 0  # both views
    losses['loss_ce'].backward()
    assert head.fc.weight.grad.abs().sum() > 0


def test_wrong_map_channels_named():
    with pytest.raises(ValueError, match='in_channels=2'):
        toy_head().cam(torch.zeros(1, 3, 2, 2))
