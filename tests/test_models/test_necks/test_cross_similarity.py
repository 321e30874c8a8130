"""CrossSimilarityAttention: the acceptance toys of spec qcs.md (E2–E8) and the module (E1, E9)."""
import math

import pytest
import torch

from mmfer.models.necks.cross_similarity import (CrossSimilarityAttention, dcs_scores,
                                                 fusion_lambda, pair_scores, qcs_scores)
from mmfer.registry import MODELS


pytestmark = pytest.mark.usefixtures('one_thread')


def q(*values):
    """B = 1, N = len(values), C = 1 (the spec's "Q given directly")."""
    return torch.tensor(values, dtype=torch.float64).reshape(1, -1, 1)


def close(t, expected, tol=1e-6):
    assert torch.allclose(t.double(), torch.tensor(expected, dtype=torch.float64), atol=tol), \
        (t, expected)


def test_lambda():
    assert fusion_lambda(torch.tensor(0.)).item() == 1.0
    close(fusion_lambda(torch.tensor(0.5, dtype=torch.float64)), 1.462117157, 1e-9)
    close(fusion_lambda(torch.tensor(0.5, dtype=torch.float64), gamma=2.0), 1 + math.tanh(1.0))


def test_dcs_toy():
    out = dcs_scores(q(0, 1), q(0, 2))
    close(out['S_ap'], [[[2, 0], [1, 1]]])
    s_a, s_p = out['s']
    close(s_a, [[2 / 5 ** .5, 1 / 5 ** .5 + 1]])
    close(s_a, [[0.894427, 1.447214]])
    close(s_p, [[1.707107, 0.707107]])
    close(s_a.softmax(-1), [[0.3652182, 0.6347818]])
    close(s_p.softmax(-1), [[0.7310586, 0.2689414]])


def test_pair_scores_zero_column():
    # D̃_pn2 of the QCS toy: a zero column contributes 0 through the clamp (no NaN)
    r_row, r_col = pair_scores(torch.tensor([[[0., 3.], [0., 1.]]], dtype=torch.float64))
    close(r_row, [[0.948683, 0.316228]])
    close(r_col, [[0., 2.]])


QCS_Q = (q(0, 1), q(0, 2), q(3, 0), q(1, 4))


def test_qcs_toy_maps_and_scores():
    out = qcs_scores(*QCS_Q)
    close(out['S_ap'], [[[2, 0], [1, 1]]])
    close(out['S_nn2'], [[[2, 3], [3, 0]]])
    close(out['D_an'], [[[3, 0], [2, 1]]])
    close(out['D_pn2'], [[[0, 3], [0, 1]]])
    s = [[0.894427, 1.447214], [1.707107, 0.707107], [1.554700, 0.832050],
         [1.554700, 0.832050]]
    d = [[0.832050, 1.554700], [0.948683, 0.316228], [1.894427, 0.447214], [0, 2]]
    for got, exp in zip(out['s'], s):
        close(got, [exp])
    for got, exp in zip(out['d'], d):
        close(got, [exp])
    assert out['lam'].item() == 1.0


@pytest.mark.parametrize('theta,expected', [
    (0.0, [[0.2183281, 0.7816719], [0.8365058, 0.1634942], [0.8975104, 0.1024896],
           [0.2180016, 0.7819984]]),
    (0.5, [[0.1666740, 0.8333260], [0.8726643, 0.1273357], [0.9447288, 0.0552712],
           [0.0996083, 0.9003917]]),
])
def test_qcs_toy_weights(theta, expected):
    out = qcs_scores(*QCS_Q, theta=torch.tensor(theta, dtype=torch.float64))
    for got, exp in zip(out['scores'], expected):
        close(got.softmax(-1), [exp])


def test_qcs_ablation_modes():
    out_s = qcs_scores(*QCS_Q, theta=torch.tensor(0.5, dtype=torch.float64), mode='qcs_s')
    out_d = qcs_scores(*QCS_Q, mode='qcs_d')
    close(out_s['scores'][0], [[0.894427, 1.447214]])
    close(out_d['scores'][3], [[0., 2.]])


def test_batch_global_vs_per_sample():
    q_a = torch.tensor([[0., 1.], [0., 4.]], dtype=torch.float64).unsqueeze(-1)
    q_p = torch.tensor([[0., 2.], [0., 1.]], dtype=torch.float64).unsqueeze(-1)
    glob = dcs_scores(q_a, q_p, minmax='batch')
    per = dcs_scores(q_a, q_p, minmax='sample')
    close(glob['S_ap'][0], [[4, 2], [3, 3]])
    close(glob['s'][0][0].softmax(-1), [0.4806721, 0.5193279])
    close(per['S_ap'][0], [[2, 0], [1, 1]])
    close(per['s'][0][0].softmax(-1), [0.3652182, 0.6347818])
    for out in (glob, per):
        close(out['S_ap'][1], [[4, 3], [0, 1]])
        close(out['s'][0][1].softmax(-1), [0.8365057, 0.1634943])


def test_param_counts():
    qcs = MODELS.build(dict(type='CrossSimilarityAttention', embed_dim=768, mode='qcs_sd'))
    dcs = MODELS.build(dict(type='CrossSimilarityAttention', embed_dim=768, mode='dcs_s'))
    assert sum(p.numel() for p in qcs.parameters()) == 5_906_689
    assert sum(p.numel() for p in dcs.parameters()) == 5_906_688
    assert qcs.theta.shape == () and qcs.theta.item() == 0.0 and qcs.lam.item() == 1.0
    assert dcs.theta is None
    names = {n for n, _ in qcs.named_parameters()}
    assert names == {'theta', 'norm1.weight', 'norm1.bias', 'norm2.weight', 'norm2.bias',
                     'proj.weight', 'proj.bias', 'mlp.fc1.weight', 'mlp.fc1.bias',
                     'mlp.fc2.weight', 'mlp.fc2.bias'}
    assert qcs.norm1.eps == 1e-5 and qcs.norm2.eps == 1e-5


def _manual(m, feats, lam):
    """E1–E9 written out with plain ops, for comparison with the module."""
    c = m.embed_dim
    fh = [torch.nn.functional.layer_norm(f, (c, ), m.norm1.weight, m.norm1.bias, 1e-5)
          for f in feats]
    qv = [x @ m.proj.weight.t() + m.proj.bias for x in fh]
    qs, vs = [x[..., :c] for x in qv], [x[..., c:] for x in qv]
    if len(feats) == 4:
        out = qcs_scores(*qs, theta=torch.atanh(torch.tensor(lam - 1.)))
    else:
        out = dcs_scores(*qs)
    zs = []
    for f, h, s, v in zip(feats, fh, out['scores'], vs):
        a = torch.exp(s) / torch.exp(s).sum(-1, keepdim=True)
        upd = a[..., None] * v
        if m.residual_style == 'post':
            y = torch.nn.functional.layer_norm(h + upd, (c, ), m.norm2.weight, m.norm2.bias,
                                               1e-5)
            zs.append(y + m.mlp(y))
        else:
            y = f + upd
            zs.append(y + m.mlp(torch.nn.functional.layer_norm(y, (c, ), m.norm2.weight,
                                                               m.norm2.bias, 1e-5)))
    return zs


@pytest.mark.parametrize('mode,style,nb', [('qcs_sd', 'post', 4), ('dcs_s', 'pre', 2),
                                           ('dcs_s', 'post', 2)])
def test_module_matches_equations(mode, style, nb):
    torch.manual_seed(0)
    m = CrossSimilarityAttention(embed_dim=8, mode=mode, residual_style=style)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.5)  # non-trivial norms and projections
    if m.theta is not None:
        m.theta.data.fill_(0.5)
    feats = [torch.randn(2, 5, 8) for _ in range(nb)]
    zs = m(feats)
    ref = _manual(m, feats, 1.462117157 if mode == 'qcs_sd' else 1.0)
    assert len(zs) == nb
    for z, r in zip(zs, ref):
        assert z.shape == (2, 5, 8)
        assert torch.allclose(z, r, atol=1e-5)
    weights = m.attention_weights(feats)
    for w in weights:
        assert w.shape == (2, 5)
        assert torch.allclose(w.sum(-1), torch.ones(2))


def test_uniform_weights_for_identical_tokens():
    """All tokens of both branches equal ⇒ equal scores ⇒ a_X = 1/N and identical Z rows."""
    torch.manual_seed(1)
    m = CrossSimilarityAttention(embed_dim=4, mode='dcs_s')
    same = [torch.randn(1, 1, 4).expand(1, 3, 4).contiguous()] * 2
    z_same = m(same)
    assert torch.allclose(m.attention_weights(same)[0], torch.full((1, 3), 1 / 3))
    assert torch.allclose(z_same[0][:, 0], z_same[0][:, 1], atol=1e-6)


def test_gradients_finite_and_reach_theta():
    torch.manual_seed(2)
    m = CrossSimilarityAttention(embed_dim=16, mode='qcs_sd')
    f = torch.randn(2, 49, 16, requires_grad=True)
    # p identical to a: exact zero distances must not produce NaN gradients
    zs = m([f, f, torch.randn(2, 49, 16), torch.randn(2, 49, 16)])
    sum(z.square().sum() for z in zs).backward()
    assert torch.isfinite(f.grad).all()
    assert m.theta.grad is not None and torch.isfinite(m.theta.grad) and m.theta.grad != 0


def test_sdpa_mode():
    torch.manual_seed(3)
    m = CrossSimilarityAttention(embed_dim=8, mode='sdpa')
    feats = [torch.randn(2, 5, 8) for _ in range(4)]
    zs = m(feats)
    fh, qs, vs = m.project(feats)
    att = torch.softmax(qs[0] @ qs[1].transpose(1, 2) / 8 ** .5, dim=-1)
    y = m.norm2(fh[0] + att @ vs[1])
    assert torch.allclose(zs[0], y + m.mlp(y), atol=1e-5)
    assert len(m([feats[0], feats[1]])) == 2
    assert sum(p.numel() for p in m.parameters()) == sum(
        p.numel() for p in CrossSimilarityAttention(embed_dim=8, mode='dcs_s').parameters())


def test_bad_inputs():
    with pytest.raises(ValueError, match='mode'):
        CrossSimilarityAttention(embed_dim=8, mode='qcs')
    with pytest.raises(ValueError, match='minmax'):
        CrossSimilarityAttention(embed_dim=8, minmax='global')
    m = CrossSimilarityAttention(embed_dim=8, mode='qcs_sd')
    with pytest.raises(ValueError, match='takes 4 branches'):
        m([torch.randn(1, 3, 8)] * 2)
    with pytest.raises(ValueError, match='B×N×8'):
        m([torch.randn(1, 3, 7)] * 4)
