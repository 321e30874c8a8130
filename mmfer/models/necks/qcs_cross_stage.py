"""QCS / DCS training-only cross stage (qcs.md §2, §5) as a multi-view neck.

Input: the per-view feature dicts of the base network (each with ``tokens`` F_X, N×T×C, T =
``num_levels`` equal levels). Per level l, one :class:`CrossSimilarityAttention` refines the
views' level-l tokens jointly, giving Z_X; G_X = F_X + Z_X. The ``connection`` turns G_X into
the vector a cross head classifies::

    'vit' (official): feat = cls of a POSTERViT (depth 1, SE-gated) over G_X      → N×C
    'gap' (spec choice): feat = mean_t G_X                                         → N×C
    'bp' (bilinear pooling): X = G_Xᵀ Z_X / T, sign(X)·sqrt(|X| + 1e-5), L2-normalised,
                             ×100                                                   → N×C²

Output: one dict per view, ``dict(feat=..., cross_tokens=G_X)``. The cross classifier is a
separate head (``FERClsHead`` with ``in_channels=out_channels``) configured on the
:class:`~mmfer.models.classifiers.MultiViewClassifier`.
"""
import copy
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmfer.registry import MODELS

CONNECTIONS = ('vit', 'gap', 'bp')


@MODELS.register_module()
class QCSCrossStage(BaseModule):
    """Per-level cross similarity attention over the views' tokens + a connection.

    Args:
        embed_dim (int): C, the token width.
        num_tokens (int): T, tokens per view (all levels).
        num_levels (int): equal levels the tokens split into, in order. Default 3.
        csa (dict): options of :class:`CrossSimilarityAttention` (``mode``, ``gamma``,
            ``minmax``, ``residual_style``); ``embed_dim`` is set here. Default mode
            ``'qcs_sd'``.
        connection (str): ``'vit'`` (default), ``'gap'`` or ``'bp'``.
        vit (dict, optional): options of the cross :class:`POSTERViT` (connection ``'vit'``
            only); defaults depth 1, 8 heads, mlp ratio 4, no dropout.
        tokens_key (str): the named tensor holding F_X. Default ``'tokens'``.
    """

    def __init__(self, embed_dim: int, num_tokens: int, num_levels: int = 3,
                 csa: Optional[dict] = None, connection: str = 'vit',
                 vit: Optional[dict] = None, tokens_key: str = 'tokens',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if connection not in CONNECTIONS:
            raise ValueError(f'QCSCrossStage: connection={connection!r} is not one of '
                             f'{list(CONNECTIONS)}')
        if num_tokens % num_levels:
            raise ValueError(f'QCSCrossStage: {num_tokens} tokens do not split into '
                             f'num_levels={num_levels} equal levels')
        self.embed_dim, self.num_tokens, self.num_levels = embed_dim, num_tokens, num_levels
        self.connection, self.tokens_key = connection, tokens_key
        csa = dict(csa or {})
        csa.setdefault('type', 'CrossSimilarityAttention')
        csa['embed_dim'] = embed_dim
        self.csa = nn.ModuleList([MODELS.build(copy.deepcopy(csa)) for _ in range(num_levels)])
        if connection == 'vit':
            cfg = dict(type='POSTERViT', depth=1, num_heads=8, mlp_ratio=4., drop_ratio=0.,
                       proj_drop_ratio=0.)
            cfg.update(vit or {})
            cfg.update(num_tokens=num_tokens, embed_dim=embed_dim)
            self.vit = MODELS.build(cfg)
        else:
            if vit:
                raise ValueError(f'QCSCrossStage: vit options {sorted(vit)} given but '
                                 f'connection={connection!r} builds no cross ViT')
            self.vit = None

    @property
    def num_branches(self) -> Sequence[int]:
        """View counts the CSA mode accepts."""
        return self.csa[0].num_branches

    @property
    def out_channels(self) -> int:
        """Size of ``feat``: C, or C² for bilinear pooling."""
        return self.embed_dim ** 2 if self.connection == 'bp' else self.embed_dim

    def refine(self, tokens: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Per level CSA over the views; returns Z_X (N×T×C) per view."""
        levels = [t.chunk(self.num_levels, dim=1) for t in tokens]
        zs = [csa([lv[i] for lv in levels]) for i, csa in enumerate(self.csa)]
        return [torch.cat([zs[i][x] for i in range(self.num_levels)], dim=1)
                for x in range(len(tokens))]

    def connect(self, g: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The vector the cross head classifies, from G_X (and Z_X for bilinear pooling)."""
        if self.connection == 'vit':
            cls, _ = self.vit(g)
            return cls
        if self.connection == 'gap':
            return g.mean(dim=1)
        x = torch.einsum('ntc,ntd->ncd', g, z).flatten(1) / g.shape[1]
        x = torch.sign(x) * torch.sqrt(x.abs() + 1e-5)
        return F.normalize(x, dim=1) * 100

    def forward(self, feats: List[Dict[str, torch.Tensor]]) -> List[Dict[str, torch.Tensor]]:
        if len(feats) not in self.num_branches:
            raise ValueError(f'QCSCrossStage: CSA mode {self.csa[0].mode!r} takes '
                             f'{list(self.num_branches)} views, got {len(feats)}')
        missing = [i for i, f in enumerate(feats) if self.tokens_key not in f]
        if missing:
            raise KeyError(f'QCSCrossStage reads {self.tokens_key!r} from the base network, '
                           f'which views {missing} lack; use a neck that returns it '
                           '(e.g. POSTERBase)')
        tokens = [f[self.tokens_key] for f in feats]
        zs = self.refine(tokens)
        return [dict(feat=self.connect(t + z, z), cross_tokens=t + z)
                for t, z in zip(tokens, zs)]
