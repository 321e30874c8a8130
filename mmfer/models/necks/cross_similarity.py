"""Cross Similarity Attention (CSA) of QCS / DCS (spec ``qcs.md`` §3, equations E1–E9).

One :class:`CrossSimilarityAttention` module serves one feature level (49 tokens of width C);
it is shared by every branch of that level. Given the level tokens of V branches (V = 4 for QCS,
in the order a, p, n, n2; V = 2 for DCS, a, p) it returns one refined tensor Z_X per branch.

The score computation is split into plain functions so that each equation can be checked on
hand-made ``Q`` tensors (the acceptance toys of the spec):

- :func:`pairwise_distance` — E2, D_XY[b, t, u] = ‖Q_X[b, t] − Q_Y[b, u]‖₂;
- :func:`shift_to_zero` — E3, D̃ = D − min D (batch-global or per sample);
- :func:`similarity` — E4, S = max D̃ − D̃;
- :func:`pair_scores` — E5, row/column-normalised sums of one N×N interaction matrix;
- :func:`fusion_lambda` — λ = 1 + tanh(γθ) of E7;
- :func:`qcs_scores` / :func:`dcs_scores` — E2–E7 for the closed loop / the pair;
- :func:`sdpa_weights` — the scaled-dot-product ablation (``mode='sdpa'``).

mmengine/mmpretrain have no such operator (the layers themselves are plain ``nn.LayerNorm`` /
``nn.Linear``; mmpretrain's ``MultiheadAttention`` mixes positions, which E9 must not do).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmfer.registry import MODELS

MODES = ('qcs_sd', 'qcs_s', 'qcs_d', 'dcs_s', 'sdpa')
MINMAX = ('batch', 'sample')
RESIDUAL_STYLES = ('post', 'pre')


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f'CrossSimilarityAttention: {name}={value!r} is not one of '
                         f'{list(choices)}')


def pairwise_distance(q_x: torch.Tensor, q_y: torch.Tensor) -> torch.Tensor:
    """E2: D[b, t, u] = ‖q_x[b, t] − q_y[b, u]‖₂ for q_x B×N×C, q_y B×M×C → B×N×M.

    ``torch.cdist`` returns a zero gradient where a distance is exactly 0 (no NaN).
    """
    return torch.cdist(q_x, q_y, p=2)


def _reduce(d: torch.Tensor, minmax: str, op: str) -> torch.Tensor:
    _check_choice('minmax', minmax, MINMAX)
    if minmax == 'batch':
        # official: one value over the whole batch tensor, so samples influence each other
        return d.min() if op == 'min' else d.max()
    return d.amin(dim=(1, 2), keepdim=True) if op == 'min' else d.amax(dim=(1, 2), keepdim=True)


def shift_to_zero(d: torch.Tensor, minmax: str = 'batch') -> torch.Tensor:
    """E3: D̃ = D − min(D); the min over all (b, t, u) (``'batch'``) or over (t, u) per b."""
    return d - _reduce(d, minmax, 'min')


def similarity(d_shifted: torch.Tensor, minmax: str = 'batch') -> torch.Tensor:
    """E4: S = max(D̃) − D̃ (max over the batch tensor or per sample, as in E3)."""
    return _reduce(d_shifted, minmax, 'max') - d_shifted


def pair_scores(m: torch.Tensor, eps: float = 1e-12) -> Tuple[torch.Tensor, torch.Tensor]:
    """E5 on one interaction matrix m (B×N×M, rows = member X, columns = member Y).

    r_X[t] = Σ_u m[t, u] / max(‖m[:, u]‖₂, eps)   (columns L2-normalised over X's tokens)
    r_Y[u] = Σ_t m[t, u] / max(‖m[t, :]‖₂, eps)   (rows L2-normalised over Y's tokens)

    Returns ``(r_X B×N, r_Y B×M)``. An all-zero column (or row) contributes 0.
    """
    r_row = F.normalize(m, p=2, dim=1, eps=eps).sum(dim=2)
    r_col = F.normalize(m, p=2, dim=2, eps=eps).sum(dim=1)
    return r_row, r_col


def fusion_lambda(theta: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """λ = 1 + tanh(γ·θ) of E7 (θ = 0 ⇒ λ = 1; λ ∈ (0, 2))."""
    return 1 + torch.tanh(gamma * theta)


def dcs_scores(q_a: torch.Tensor, q_p: torch.Tensor,
               minmax: str = 'batch') -> Dict[str, torch.Tensor]:
    """E2–E5 for the DCS pair (a, p); Q tensors B×N×C.

    Returns ``dict(S_ap=B×N×N, s=(s_a, s_p), scores=(s_a, s_p))`` with s_X B×N (before E8).
    """
    s_ap = similarity(shift_to_zero(pairwise_distance(q_a, q_p), minmax), minmax)
    s_a, s_p = pair_scores(s_ap)
    return dict(S_ap=s_ap, s=(s_a, s_p), scores=(s_a, s_p))


def qcs_scores(q_a: torch.Tensor, q_p: torch.Tensor, q_n: torch.Tensor, q_n2: torch.Tensor,
               theta: Optional[torch.Tensor] = None, gamma: float = 1.0,
               minmax: str = 'batch', mode: str = 'qcs_sd') -> Dict[str, torch.Tensor]:
    """E2–E7 for the QCS closed loop a –S– p –D– n2 –S– n –D– a; Q tensors B×N×C.

    Matrices (E6): S_ap, S_nn2 (similarities, E2–E4) and D̃_an, D̃_pn2 (shifted distances, E2–E3).
    Scores (E5): s = (row S_ap, col S_ap, row S_nn2, col S_nn2),
    d = (row D̃_an, row D̃_pn2, col D̃_an, col D̃_pn2) for (a, p, n, n2).
    Fused score (E7): ``qcs_sd`` SD = s + λ·d with λ = 1 + tanh(γθ) (θ = 0 when ``theta`` is
    None); ``qcs_s`` SD = s; ``qcs_d`` SD = d.

    Returns ``dict(S_ap, S_nn2, D_an, D_pn2, s=4-tuple, d=4-tuple, lam, scores=4-tuple)``;
    every score is B×N, before the softmax of E8.
    """
    _check_choice('mode', mode, ('qcs_sd', 'qcs_s', 'qcs_d'))
    s_ap = similarity(shift_to_zero(pairwise_distance(q_a, q_p), minmax), minmax)
    s_nn2 = similarity(shift_to_zero(pairwise_distance(q_n, q_n2), minmax), minmax)
    d_an = shift_to_zero(pairwise_distance(q_a, q_n), minmax)
    d_pn2 = shift_to_zero(pairwise_distance(q_p, q_n2), minmax)
    s_a, s_p = pair_scores(s_ap)
    s_n, s_n2 = pair_scores(s_nn2)
    d_a, d_n = pair_scores(d_an)
    d_p, d_n2 = pair_scores(d_pn2)
    s = (s_a, s_p, s_n, s_n2)
    d = (d_a, d_p, d_n, d_n2)
    if theta is None:
        theta = q_a.new_zeros(())
    lam = fusion_lambda(theta, gamma)
    if mode == 'qcs_sd':
        scores = tuple(sx + lam * dx for sx, dx in zip(s, d))
    elif mode == 'qcs_s':
        scores = s
    else:
        scores = d
    return dict(S_ap=s_ap, S_nn2=s_nn2, D_an=d_an, D_pn2=d_pn2, s=s, d=d, lam=lam,
                scores=scores)


def sdpa_weights(q_x: torch.Tensor, q_y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Scaled-dot-product ablation: A_XY = softmax_u(Q_X Q_Yᵀ/√C), A_YX = softmax_t(Q_Y Q_Xᵀ/√C).

    Returns the two row-stochastic maps (B×N×M, B×M×N), single head.
    """
    logits = q_x @ q_y.transpose(1, 2) / q_x.shape[-1] ** 0.5
    return logits.softmax(dim=2), logits.transpose(1, 2).softmax(dim=2)


class CSAMlp(nn.Module):
    """``fc2(GELU(fc1 x))`` (C → hidden → C), no dropout — the CSA feed-forward."""

    def __init__(self, embed_dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


@MODELS.register_module()
class CrossSimilarityAttention(BaseModule):
    """Cross Similarity Attention over the tokens of one level for 2 (DCS) or 4 (QCS) branches.

    For every branch X with level tokens F_X ∈ ℝ^{B×N×C} (all branches share the parameters)::

        E1  F̂_X = LN₁(F_X);  [Q_X | V_X] = proj(F̂_X)             Q_X, V_X ∈ ℝ^{B×N×C}
        E2–E7  SD_X from the Q's of the branches (see qcs_scores / dcs_scores)
        E8  a_X = softmax_t(SD_X)                                 B×N, Σ_t a_X[t] = 1
        E9  post: Y_X = F̂_X + a_X ⊙ V_X;  Ŷ_X = LN₂(Y_X);  Z_X = Ŷ_X + MLP(Ŷ_X)
            pre:  Y_X = F_X + a_X ⊙ V_X;   Z_X = Y_X + MLP(LN₂(Y_X))

    (a_X[t] scales only position t's value vector: positions are never mixed.) The caller adds
    the residual G_X = F_X + Z_X. ``mode='sdpa'`` replaces E2–E8 by standard cross attention
    between the intra-class pairs (a, p) and (n, n2): Y_a = F̂_a + softmax_u(Q_a Q_pᵀ/√C) V_p
    (and symmetrically), followed by the same LN₂/MLP (a spec choice, §3).

    Parameters (C = 768, mlp_ratio 4): ``norm1``, ``norm2`` (LayerNorm eps 1e-5), ``proj``
    Linear(C→2C), ``mlp.fc1``/``mlp.fc2``, and for ``mode='qcs_sd'`` the scalar ``theta``
    (init 0): 5,906,689 parameters (5,906,688 without θ).

    Args:
        embed_dim (int): C.
        mode (str): ``'qcs_sd'`` (QCS, default), ``'qcs_s'``, ``'qcs_d'`` (QCS ablations, 4
            branches), ``'dcs_s'`` (DCS, 2 branches) or ``'sdpa'`` (2 or 4 branches).
        gamma (float): γ of λ = 1 + tanh(γθ) (official 1).
        minmax (str): ``'batch'`` (official: E3/E4 min and max over the whole batch tensor) or
            ``'sample'`` (per sample).
        residual_style (str): ``'post'`` (official QCS, DCS RAF-DB/AffectNet-7) or ``'pre'``
            (official DCS FERPlus/AffectNet-8).
        mlp_ratio (float): hidden width of the MLP / C.
    """

    def __init__(self, embed_dim: int = 768, mode: str = 'qcs_sd', gamma: float = 1.0,
                 minmax: str = 'batch', residual_style: str = 'post', mlp_ratio: float = 4.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        _check_choice('mode', mode, MODES)
        _check_choice('minmax', minmax, MINMAX)
        _check_choice('residual_style', residual_style, RESIDUAL_STYLES)
        self.embed_dim = embed_dim
        self.mode = mode
        self.gamma = float(gamma)
        self.minmax = minmax
        self.residual_style = residual_style
        self.norm1 = nn.LayerNorm(embed_dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(embed_dim, eps=1e-5)
        self.proj = nn.Linear(embed_dim, 2 * embed_dim)
        self.mlp = CSAMlp(embed_dim, int(embed_dim * mlp_ratio))
        # θ exists only where it is used (an unused parameter breaks DDP and the param count)
        if mode == 'qcs_sd':
            self.theta = nn.Parameter(torch.zeros(()))
        else:
            self.theta = None

    @property
    def num_branches(self) -> Tuple[int, ...]:
        """Branch counts this mode accepts."""
        if self.mode.startswith('qcs'):
            return (4, )
        if self.mode == 'dcs_s':
            return (2, )
        return (2, 4)

    @property
    def lam(self) -> Optional[torch.Tensor]:
        """λ = 1 + tanh(γθ) (``qcs_sd`` only; None otherwise)."""
        return None if self.theta is None else fusion_lambda(self.theta, self.gamma)

    def _check_inputs(self, feats: Sequence[torch.Tensor]) -> None:
        if len(feats) not in self.num_branches:
            raise ValueError(f'CrossSimilarityAttention(mode={self.mode!r}) takes '
                             f'{" or ".join(map(str, self.num_branches))} branches, got '
                             f'{len(feats)}; use mode="dcs_s" for 2 and "qcs_sd" for 4')
        shape = feats[0].shape
        if len(shape) != 3 or shape[-1] != self.embed_dim:
            raise ValueError(f'CrossSimilarityAttention expects B×N×{self.embed_dim} tokens, '
                             f'got {tuple(shape)}')
        for f in feats[1:]:
            if f.shape != shape:
                raise ValueError('CrossSimilarityAttention: all branches must have the same '
                                 f'shape, got {[tuple(x.shape) for x in feats]}')

    def project(self, feats: Sequence[torch.Tensor]):
        """E1 for every branch: lists of F̂_X, Q_X, V_X (each B×N×C)."""
        normed = [self.norm1(f) for f in feats]
        qv = [self.proj(f) for f in normed]
        return normed, [x[..., :self.embed_dim] for x in qv], [x[..., self.embed_dim:] for x in qv]

    def scores(self, qs: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """E2–E7: the pre-softmax scores SD_X (B×N) of every branch from their Q's."""
        if self.mode == 'dcs_s':
            return list(dcs_scores(*qs, minmax=self.minmax)['scores'])
        return list(qcs_scores(*qs, theta=self.theta, gamma=self.gamma, minmax=self.minmax,
                               mode=self.mode)['scores'])

    def attention_weights(self, feats: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """E1–E8: the spatial weights a_X (B×N, each summing to 1) of every branch.

        Not defined for ``mode='sdpa'`` (its weights are N×N maps).
        """
        if self.mode == 'sdpa':
            raise ValueError('mode="sdpa" has no per-position weights; it uses N×N maps')
        self._check_inputs(feats)
        _, qs, _ = self.project(feats)
        return [s.softmax(dim=-1) for s in self.scores(qs)]

    def _refine(self, f: torch.Tensor, f_hat: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        """E9 residuals given the attention update (a_X ⊙ V_X, or the SDPA output)."""
        if self.residual_style == 'post':
            y = self.norm2(f_hat + update)
            return y + self.mlp(y)
        y = f + update
        return y + self.mlp(self.norm2(y))

    def forward(self, feats: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """V tensors B×N×C (branch order a, p[, n, n2]) → V refined tensors Z_X B×N×C."""
        self._check_inputs(feats)
        normed, qs, vs = self.project(feats)
        if self.mode == 'sdpa':
            updates: List[torch.Tensor] = [None] * len(feats)
            for i, j in ((0, 1), (2, 3))[:len(feats) // 2]:
                a_ij, a_ji = sdpa_weights(qs[i], qs[j])
                updates[i] = a_ij @ vs[j]
                updates[j] = a_ji @ vs[i]
        else:
            weights = [s.softmax(dim=-1) for s in self.scores(qs)]
            updates = [w.unsqueeze(-1) * v for w, v in zip(weights, vs)]
        return [self._refine(f, fh, u) for f, fh, u in zip(feats, normed, updates)]
