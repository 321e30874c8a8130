"""Neutral-Aware Anchor (NeAA) loss of PCDA (Nie et al., CVM 2024, Eq. 6–11; spec ``pcda.md`` §5).

Over one batch with features f_i ∈ ℝ^D (default: the class token ``cls_token``), softmax
predictions p_i of the FC, labels y_i, S_c = {i : y_i = c}, N_c = |S_c| and the neutral class n::

    H_i      = −Σ_k p_ik log p_ik                          confidence = entropy (Eq. 6)
    anchor_c = argmin_{i ∈ S_c} H_i                          most confident member of class c
    Dist(a, b) = (1/D)·‖a − b‖²                              mean squared error
    L_non-neutral = Σ_{c ≠ n, N_c ≥ 1} (1/N_c) Σ_{i ∈ S_c} Dist(f_i, f_anchor_c)      (Eq. 8)
    L_neutral     = 1/(N_n − 1)² Σ_{i ∈ S_n} Σ_{j ∈ S_n, j ≠ i} Dist(f_i, f_j)        (Eq. 9)
                    (0 when N_n < 2)
    L_NeAA        = L_non-neutral + L_neutral                                          (Eq. 10)

The total loss of Eq. 11 is CE + λ·L_NeAA with λ = 0.01: this module returns
``loss_weight · L_NeAA`` (``loss_weight`` = λ, default 0.01) logged as ``loss_neaa``; the raw
L_NeAA is the logged value divided by ``loss_weight``. With ``neutral_aware=False`` the neutral
class is treated like any other (Eq. 7, the "traditional" anchor loss the paper starts from).
This is *not* the probability-rescaled "anchor loss" of Ryou et al. (ICCV 2019).

Anchors are recomputed from the predictions of every forward pass (so in each pass of a SAM step).
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

from mmfer.registry import MODELS

from .base import BaseFERLoss

CLASS_NORMS = ('n', 'n_minus_1')
NEUTRAL_NORMS = ('literal', 'mean', 'unordered')
DIST_REDUCTIONS = ('mean', 'sum')
CLASS_AGGREGATIONS = ('sum', 'mean')
ANCHOR_AMONG = ('all', 'correct')
FEAT_KEYS = ('cls_token', 'feat')


def resolve_neutral_index(neutral_index: Optional[int] = None,
                          neutral_class: Optional[str] = 'Neutral',
                          classes: Union[str, Sequence[str], None] = None) -> tuple:
    """``(index, class_names or None)`` of the neutral class.

    ``neutral_index`` wins when given; otherwise ``neutral_class`` (any accepted spelling, e.g.
    ``'neutral'``) is looked up in ``classes`` — a class-order preset of
    :mod:`mmfer.datasets.class_maps` (``'rafdb'``, ``'affectnet7'``, ``'ferplus'``,
    ``'synthfer'`` …), a list of names, or a text file with one name a line — the order of the
    dataset's labels. RAF-DB → 6, AffectNet → 0, FERPlus → 0, SynthFER → 6.
    """
    names = None
    if classes is not None:
        from mmfer.datasets.class_maps import canonical_name, resolve_classes
        names = tuple(resolve_classes(classes))
    if neutral_index is not None:
        idx = int(neutral_index)
        if idx < 0 or (names is not None and idx >= len(names)):
            raise ValueError(f'NeAALoss: neutral_index={neutral_index} is outside the '
                             f'{len(names) if names else "?"} classes {list(names or [])}')
        return idx, names
    if names is None or neutral_class is None:
        raise ValueError(
            'NeAALoss: the neutral class is unknown. Give the class order of the dataset, e.g. '
            "NeAALoss(neutral_class='Neutral', classes='rafdb') (a preset of "
            'mmfer.datasets.class_maps or the list of class names), or neutral_index=<int>.')
    target = canonical_name(neutral_class)
    canon = [canonical_name(c) for c in names]
    if target not in canon:
        raise ValueError(f'NeAALoss: neutral_class={neutral_class!r} is not among the classes '
                         f'{list(names)}; set classes to the dataset order or neutral_index')
    return canon.index(target), names


@MODELS.register_module()
class NeAALoss(BaseFERLoss):
    """Neutral-aware anchor loss (see the module docstring for the equations).

    Consumes ``(feat_key, 'logits')`` and ``gt_label``.

    Args (defaults = pcda.md §8):
        neutral_index (int, optional): index of the neutral class; when None it is looked up
            by name (``neutral_class`` in ``classes``, :func:`resolve_neutral_index`).
        neutral_class (str): name of the neutral class (``'Neutral'``).
        classes (str | list[str], optional): the dataset's class order (a preset such as
            ``'rafdb'`` or the names). When given, the logits must have that many columns.
        loss_weight (float): λ of Eq. 11 (0.01).
        feat_key (str): ``'cls_token'`` (default, the class token after the final LayerNorm,
            before the SE gate — "the class token output by the attention module") or ``'feat'``
            (after the SE gate, the FC input) (choice 7).
        detach_anchor (bool): stop the gradient through f_anchor (default True; choice 8).
        anchor_among (str): ``'all'`` members of the class (default) or only the ``'correct'``ly
            classified ones (a class without one contributes 0) (choice 9). Entropy on detached
            probabilities, temperature 1; ties → lowest batch index.
        class_norm (str): ``'n'`` 1/N_c (default) or ``'n_minus_1'`` 1/(N_c − 1), classes with
            N_c < 2 skipped (choice 10).
        neutral_norm (str): ``'literal'`` 1/(N_n − 1)² over ordered pairs (default),
            ``'mean'`` 1/(N_n (N_n − 1)) over ordered pairs (the exact mean), ``'unordered'``
            1/(N_n − 1)² over unordered pairs i < j (half the literal value) (choice 11).
        dist (str): ``'mean'`` over the D dimensions (MSE, default) or ``'sum'`` (choice 12).
        class_aggregation (str): ``'sum'`` over present non-neutral classes (default, Eq. 8) or
            ``'mean'`` over the classes that contribute (choice 13).
        l2_normalize (bool): L2-normalise the features before Dist (default False; choice 15).
        neutral_aware (bool): True (NeAA); False: Eq. 7, the neutral class gets an anchor like
            every other class.
        loss_name (str): ``'loss_neaa'``.
    """

    consumes = ('cls_token', 'logits')
    target_fields = ('gt_label', )
    default_name = 'loss_neaa'

    def __init__(self, neutral_index: Optional[int] = None,
                 neutral_class: Optional[str] = 'Neutral',
                 classes: Union[str, Sequence[str], None] = None, loss_weight: float = 0.01,
                 feat_key: str = 'cls_token', detach_anchor: bool = True,
                 anchor_among: str = 'all', class_norm: str = 'n',
                 neutral_norm: str = 'literal', dist: str = 'mean',
                 class_aggregation: str = 'sum', l2_normalize: bool = False,
                 neutral_aware: bool = True, loss_name: Optional[str] = None, **kwargs):
        super().__init__(loss_weight, loss_name, **kwargs)
        for name, value, allowed in (('class_norm', class_norm, CLASS_NORMS),
                                     ('neutral_norm', neutral_norm, NEUTRAL_NORMS),
                                     ('dist', dist, DIST_REDUCTIONS),
                                     ('class_aggregation', class_aggregation, CLASS_AGGREGATIONS),
                                     ('anchor_among', anchor_among, ANCHOR_AMONG),
                                     ('feat_key', feat_key, FEAT_KEYS)):
            if value not in allowed:
                raise ValueError(f'NeAALoss: {name}={value!r} is not one of {list(allowed)}')
        if neutral_aware:
            self.neutral_index, self.classes = resolve_neutral_index(neutral_index,
                                                                     neutral_class, classes)
        else:
            self.neutral_index = None
            self.classes = None if classes is None else resolve_neutral_index(
                0, None, classes)[1]
        self.consumes = (feat_key, 'logits')
        self.feat_key = feat_key
        self.detach_anchor = detach_anchor
        self.anchor_among = anchor_among
        self.class_norm = class_norm
        self.neutral_norm = neutral_norm
        self.dist = dist
        self.class_aggregation = class_aggregation
        self.l2_normalize = l2_normalize
        self.neutral_aware = neutral_aware

    def _dist(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Dist over the last dimension (broadcasting)."""
        sq = (a - b).pow(2)
        return sq.mean(-1) if self.dist == 'mean' else sq.sum(-1)

    def neutral_term(self, f: torch.Tensor) -> torch.Tensor:
        """L_neutral of Eq. 9 for the neutral features f (N_n×D)."""
        n = f.shape[0]
        if n < 2:
            return f.sum() * 0.
        d = self._dist(f[:, None, :], f[None, :, :])  # N_n×N_n, zero diagonal
        ordered = d.sum()
        if self.neutral_norm == 'literal':
            return ordered / (n - 1) ** 2
        if self.neutral_norm == 'mean':
            return ordered / (n * (n - 1))
        return ordered / 2 / (n - 1) ** 2

    def compute(self, feats: torch.Tensor, logits: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        if feats.dim() != 2 or logits.dim() != 2 or feats.shape[0] != logits.shape[0]:
            raise ValueError(f'NeAALoss: expects features N×D and logits N×C, got '
                             f'{tuple(feats.shape)} and {tuple(logits.shape)}')
        num_classes = logits.shape[1]
        if self.classes is not None and len(self.classes) != num_classes:
            raise ValueError(f'NeAALoss: classes has {len(self.classes)} names '
                             f'{list(self.classes)} but the head predicts {num_classes} classes; '
                             'set classes to the dataset order the head is trained on')
        if self.neutral_index is not None and self.neutral_index >= num_classes:
            raise ValueError(f'NeAALoss: neutral_index={self.neutral_index} but the head '
                             f'predicts {num_classes} classes')
        f = F.normalize(feats, dim=1) if self.l2_normalize else feats
        with torch.no_grad():
            p = logits.detach().float().softmax(dim=1)
            entropy = -(torch.xlogy(p, p)).sum(dim=1)
            pred = p.argmax(dim=1)
        target = target.to(logits.device).long()
        non_neutral = []
        neutral = f.sum() * 0.
        for c in torch.unique(target).tolist():
            members = (target == c).nonzero(as_tuple=True)[0]
            if self.neutral_aware and c == self.neutral_index:
                neutral = self.neutral_term(f[members])
                continue
            n_c = members.numel()
            if self.class_norm == 'n_minus_1' and n_c < 2:
                continue
            cand = members
            if self.anchor_among == 'correct':
                cand = members[pred[members] == c]
                if cand.numel() == 0:
                    continue
            anchor = cand[torch.argmin(entropy[cand])]  # first minimum: lowest batch index
            fa = f[anchor].detach() if self.detach_anchor else f[anchor]
            total = self._dist(f[members], fa[None]).sum()
            non_neutral.append(total / (n_c if self.class_norm == 'n' else n_c - 1))
        if non_neutral:
            l_nn = torch.stack(non_neutral).sum()
            if self.class_aggregation == 'mean':
                l_nn = l_nn / len(non_neutral)
        else:
            l_nn = f.sum() * 0.
        return l_nn + neutral
