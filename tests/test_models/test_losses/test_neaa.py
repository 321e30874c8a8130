"""NeAALoss (PCDA Eq. 6–11): the toy values, variants and gradients of pcda.md's acceptance
facts."""
import math

import pytest
import torch

from mmfer.models.losses.neaa import NeAALoss
from mmfer.models.losses.neaa import resolve_neutral_index
from mmfer.registry import MODELS


def toy(requires_grad=False):
    """D = 2, classes {0 = neutral, 1}: neutral (0,0), (2,0), (0,2); class 1 (1,1) with
    p = (0.1, 0.9) and (3,1) with p = (0.5, 0.5)."""
    f = torch.tensor([[0., 0.], [2., 0.], [0., 2.], [1., 1.], [3., 1.]],
                     requires_grad=requires_grad)
    p = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.1, 0.9], [0.5, 0.5]])
    logits = p.log()  # softmax(log p) = p
    y = torch.tensor([0, 0, 0, 1, 1])
    return f, logits, y


def loss_of(**kw):
    kw.setdefault('neutral_index', 0)
    kw.setdefault('loss_weight', 1.0)
    return NeAALoss(**kw)


def test_toy_entropies_and_anchor():
    _, logits, _ = toy()
    p = logits.softmax(1)
    h = -(p * p.log()).sum(1)
    assert h[3].item() == pytest.approx(0.325083, abs=1e-6)
    assert h[4].item() == pytest.approx(0.693147, abs=1e-6)


def test_toy_values():
    f, logits, y = toy()
    m = loss_of()
    assert m.neutral_term(f[:3]).item() == pytest.approx(4.0)
    assert m.compute(f, logits, y).item() == pytest.approx(5.0)
    # non-neutral part alone: class-1 samples only
    assert m.compute(f[3:], logits[3:], y[3:]).item() == pytest.approx(1.0)
    # λ = 0.01 (the default loss_weight), through the protocol's forward
    default = NeAALoss(neutral_index=0)
    assert default.loss_weight == 0.01
    out = default(dict(cls_token=f, logits=logits), y)
    assert out.item() == pytest.approx(0.05)
    assert loss_of(dist='sum').compute(f, logits, y).item() == pytest.approx(10.0)


def test_toy_variants():
    f, logits, y = toy()
    assert loss_of(neutral_norm='mean').neutral_term(f[:3]).item() == pytest.approx(8 / 3)
    assert loss_of(neutral_norm='unordered').neutral_term(f[:3]).item() == pytest.approx(2.0)
    assert loss_of(class_norm='n_minus_1').compute(f[3:], logits[3:], y[3:]).item() == \
        pytest.approx(2.0)
    # Eq. 7 (neutral treated like a class): neutral anchor = first sample (equal entropies,
    # lowest index): dists 0, 2, 2 → /3; plus class 1 → 1
    assert loss_of(neutral_aware=False).compute(f, logits, y).item() == pytest.approx(4 / 3 + 1)
    # mean over the two contributing classes... neutral is not in the non-neutral mean
    assert loss_of(class_aggregation='mean').compute(f, logits, y).item() == pytest.approx(5.0)
    # L2-normalised features: class 1 (1,1)/√2 vs (3,1)/√10
    a = torch.tensor([1., 1.]) / math.sqrt(2)
    b = torch.tensor([3., 1.]) / math.sqrt(10)
    expect = ((a - b) ** 2).mean().item() / 2
    assert loss_of(l2_normalize=True).compute(f[3:], logits[3:], y[3:]).item() == \
        pytest.approx(expect)


def test_anchor_among_correct():
    f, logits, y = toy()
    # sample 3 (most confident) predicted class 0 → with 'correct' the anchor is sample 4
    lg = logits.clone()
    lg[3] = torch.tensor([0.9, 0.1]).log()
    lg[4] = torch.tensor([0.3, 0.7]).log()
    assert loss_of().compute(f[3:], lg[3:], y[3:]).item() == pytest.approx(1.0)
    assert loss_of(anchor_among='correct').compute(f[3:], lg[3:], y[3:]).item() == \
        pytest.approx(1.0)  # symmetric distance, same value; the gradient shows the anchor
    fg = f.clone().requires_grad_(True)
    loss_of(anchor_among='correct').compute(fg[3:], lg[3:], y[3:]).backward()
    assert fg.grad[4].tolist() == [0.0, 0.0]  # now the anchor
    assert fg.grad[3].tolist() == pytest.approx([-1.0, 0.0])
    # no correctly classified member → the class contributes 0
    lg[4] = torch.tensor([0.9, 0.1]).log()
    assert loss_of(anchor_among='correct').compute(f[3:], lg[3:], y[3:]).item() == 0.0


def test_toy_gradients():
    f, logits, y = toy(requires_grad=True)
    loss_of().compute(f, logits, y).backward()
    assert f.grad[4].tolist() == pytest.approx([1.0, 0.0])   # (3, 1)
    assert f.grad[3].tolist() == [0.0, 0.0]                  # the anchor (1, 1), detached
    assert f.grad[0].tolist() == pytest.approx([-1.0, -1.0])  # neutral (0, 0)
    # anchor not detached: the anchor is pulled towards (3, 1)
    f2, logits, y = toy(requires_grad=True)
    loss_of(detach_anchor=False).compute(f2, logits, y).backward()
    assert f2.grad[3].tolist() == pytest.approx([-1.0, 0.0])
    # entropy uses detached probabilities: no gradient into the logits
    lg = logits.clone().requires_grad_(True)
    f3, _, _ = toy(requires_grad=True)
    out = loss_of().compute(f3, lg, y)
    assert not out.grad_fn is None
    out.backward()
    assert lg.grad is None


def test_single_neutral_and_singletons_exactly_zero():
    f = torch.randn(4, 8, requires_grad=True)
    logits = torch.randn(4, 7)
    y = torch.tensor([6, 0, 1, 3])  # one neutral (RAF-DB index 6) and three singletons
    m = NeAALoss(neutral_class='Neutral', classes='rafdb', loss_weight=1.0)
    out = m.compute(f, logits, y)
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(f.grad, torch.zeros_like(f))
    assert NeAALoss(neutral_index=6, class_norm='n_minus_1').compute(f, logits, y).item() == 0.0


def test_neutral_index_from_class_names():
    assert resolve_neutral_index(None, 'Neutral', 'rafdb')[0] == 6
    assert resolve_neutral_index(None, 'neutral', 'affectnet7')[0] == 0
    assert resolve_neutral_index(None, 'Neutral', 'ferplus')[0] == 0
    assert resolve_neutral_index(None, 'Neutral', 'synthfer')[0] == 6
    assert resolve_neutral_index(None, 'Neutral', ['Happy', 'Sad', 'Neutral'])[0] == 2
    assert resolve_neutral_index(3, None, None) == (3, None)
    m = MODELS.build(dict(type='NeAALoss', classes='affectnet7'))
    assert (m.neutral_index, m.loss_name, m.consumes) == (0, 'loss_neaa', ('cls_token', 'logits'))
    with pytest.raises(ValueError, match="classes='rafdb'"):
        NeAALoss()
    with pytest.raises(ValueError, match='not among the classes'):
        NeAALoss(classes=['Happy', 'Sad'])
    with pytest.raises(ValueError, match='outside'):
        NeAALoss(neutral_index=7, classes='rafdb')
    # the class list must match the head
    with pytest.raises(ValueError, match='predicts 8 classes'):
        NeAALoss(classes='rafdb').compute(torch.randn(3, 4), torch.randn(3, 8),
                                          torch.tensor([0, 1, 2]))


def test_feat_key_and_options_checked():
    m = NeAALoss(neutral_index=0, feat_key='feat')
    assert m.consumes == ('feat', 'logits')
    f, logits, y = toy()
    assert m(dict(feat=f, logits=logits), y).item() == pytest.approx(0.05)
    with pytest.raises(ValueError, match='class_norm'):
        NeAALoss(neutral_index=0, class_norm='bad')
