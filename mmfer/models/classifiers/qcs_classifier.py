"""QCS / DCS classifiers: a base network trained with a training-only cross stage (qcs.md §2, §5).

The base network (``backbone`` → ``neck`` → ``head``, exactly the attributes of
:class:`FERClassifier`) is all that runs at inference. Training adds, shared by all branches:

- ``cross_necks``: one :class:`CrossSimilarityAttention` per feature level (3 by default);
- ``cross_vit``: a :class:`POSTERViT` of depth 1 over the refined tokens G_X = F_X + Z_X;
- ``cross_head``: Linear(C → K) on the cross ViT's cls feature (the cross classifier).

Training batch: ``inputs`` N×V×3×H×W (V = 4, branch order a, p, n, n2; or V = 2, a, p) from
:class:`~mmfer.datasets.quadruplet.QuadrupletDataset`, labels y (``gt_label``, for a and p) and
y′ (``neg_label``, for n and n2). The loss is the spec's average of the 2V cross-entropies::

    L = 1/(2V) Σ_X [CE(z^base_X, y_X) + CE(z^cross_X, y_X)]

logged as ``loss_base`` = 1/(2V) Σ_X CE(z^base_X, y_X) and ``loss_cross`` likewise, so that
``loss_base + loss_cross`` = L. (The base CE is computed by the head's configured losses; with more
than one, each is logged as ``loss_base_<name>``.)
"""
import copy
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.structures import DataSample

from mmfer.models.classifiers.fer_classifier import FERClassifier
from mmfer.models.data_preprocessors import MultiViewDataPreprocessor
from mmfer.models.heads.fer_head import gather_labels
from mmfer.registry import MODELS

CONNECTIONS = ('vit', 'gap', 'bp')
BRANCH_BN = ('separate', 'joint')


def _split_views(value, n: int, v: int, i: int):
    """View i of a tensor (or tuple of tensors) whose batch axis holds N·V items (n-major)."""
    if isinstance(value, torch.Tensor):
        return value.unflatten(0, (n, v))[:, i]
    if isinstance(value, (tuple, list)):
        return type(value)(_split_views(x, n, v, i) for x in value)
    return value


@MODELS.register_module()
class QCSClassifier(FERClassifier):
    """Quadruplet (or dual) cross similarity training of a base FER network.

    Args:
        backbone, neck, head (dict): the base network, as for :class:`FERClassifier`. The neck
            must return ``tokens`` (N×T×C, T = ``num_levels`` × tokens per level) besides
            ``feat`` (e.g. ``POSTERBase``).
        num_branches (int): 4 (QCS, default) or 2 (DCS).
        cross_neck (dict): options of the per-level :class:`CrossSimilarityAttention`
            (``mode``, ``gamma``, ``minmax``, ``residual_style``); ``embed_dim`` defaults to the
            token width and ``mode`` to ``'qcs_sd'`` (4 branches) / ``'dcs_s'`` (2).
        cross_vit (dict): options of the cross :class:`POSTERViT` (``depth=1`` and the base ViT's
            widths by default; ``drop_ratio`` / ``proj_drop_ratio`` are the recipes' VIT_cross
            dropout). ``num_tokens`` and ``embed_dim`` default to the base tokens' shape.
        num_levels (int): feature levels the tokens are split into (equal parts, in order).
        connection (str): ``'vit'`` (official: cross ViT → SE cls → ``cross_head``), ``'gap'``
            (mean of G_X over the tokens → ``cross_head``; spec choice) or ``'bp'`` (bilinear
            pooling of G_X and Z_X: X = G_Xᵀ Z_X / T, signed square root (+1e-5), L2-normalised,
            ×100, ``cross_head`` = Linear(C² → K)).
        branch_bn (str): ``'separate'`` (official: one backbone call per branch, so BatchNorm
            batch statistics are per branch) or ``'joint'`` (one call on all N·V images).
        data_preprocessor (dict, optional): default :class:`MultiViewDataPreprocessor` (required
            type: it or a subclass).
        pretrained (str, optional): a full checkpoint of this model, loaded strictly.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, num_branches: int = 4,
                 cross_neck: Optional[dict] = None, cross_vit: Optional[dict] = None,
                 num_levels: int = 3, connection: str = 'vit', branch_bn: str = 'separate',
                 data_preprocessor: Optional[dict] = None, pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        if num_branches not in (2, 4):
            raise ValueError(f'{type(self).__name__}: num_branches must be 4 (QCS) or 2 (DCS), '
                             f'got {num_branches}')
        if connection not in CONNECTIONS:
            raise ValueError(f'{type(self).__name__}: connection={connection!r} is not one of '
                             f'{list(CONNECTIONS)}')
        if branch_bn not in BRANCH_BN:
            raise ValueError(f'{type(self).__name__}: branch_bn={branch_bn!r} is not one of '
                             f'{list(BRANCH_BN)}')
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'MultiViewDataPreprocessor')
        self._base_cfg = copy.deepcopy(dict(backbone=backbone, neck=neck, head=head,
                                            data_preprocessor=data_preprocessor))
        super().__init__(backbone=backbone, head=head, neck=neck,
                         data_preprocessor=data_preprocessor, pretrained=pretrained,
                         init_cfg=init_cfg)
        if not isinstance(self.data_preprocessor, MultiViewDataPreprocessor):
            raise TypeError(f'{type(self).__name__} needs data_preprocessor of type '
                            'MultiViewDataPreprocessor (inputs are N×V×3×H×W); got '
                            f'{type(self.data_preprocessor).__name__}')
        self.num_branches = num_branches
        # data fields a training batch needs besides gt_label (read by tools/analysis/benchmark.py)
        self.train_label_fields = ('neg_label', ) if num_branches == 4 else ()
        self.num_levels = num_levels
        self.connection = connection
        self.branch_bn = branch_bn

        vit = getattr(self.neck, 'vit', None)
        cross_vit = dict(cross_vit or {})
        num_tokens = cross_vit.pop('num_tokens', getattr(vit, 'num_tokens', None))
        embed_dim = cross_vit.pop('embed_dim', getattr(vit, 'embed_dim', None))
        if num_tokens is None or embed_dim is None:
            raise ValueError(f'{type(self).__name__}: cannot read the token shape from the neck '
                             f'{type(self.neck).__name__}; give cross_vit=dict(num_tokens=..., '
                             'embed_dim=...)')
        if num_tokens % num_levels:
            raise ValueError(f'{type(self).__name__}: {num_tokens} tokens do not split into '
                             f'num_levels={num_levels} equal levels')
        self.num_tokens, self.embed_dim = num_tokens, embed_dim

        cross_neck = dict(cross_neck or {})
        cross_neck.setdefault('type', 'CrossSimilarityAttention')
        cross_neck.setdefault('embed_dim', embed_dim)
        cross_neck.setdefault('mode', 'qcs_sd' if num_branches == 4 else 'dcs_s')
        self.cross_necks = nn.ModuleList(
            [MODELS.build(copy.deepcopy(cross_neck)) for _ in range(num_levels)])
        if num_branches not in self.cross_necks[0].num_branches:
            raise ValueError(f'{type(self).__name__}: cross_neck mode '
                             f'{self.cross_necks[0].mode!r} does not take {num_branches} branches')

        num_classes = self.head.num_classes
        if connection == 'vit':
            cfg = dict(type='POSTERViT', depth=1, num_heads=8, mlp_ratio=4., drop_ratio=0.,
                       proj_drop_ratio=0.)
            cfg.update(cross_vit)
            cfg.update(num_tokens=num_tokens, embed_dim=embed_dim)
            self.cross_vit = MODELS.build(cfg)
            self.cross_head = nn.Linear(embed_dim, num_classes)
        else:
            if cross_vit:
                raise ValueError(f'{type(self).__name__}: cross_vit options {sorted(cross_vit)} '
                                 f'given but connection={connection!r} builds no cross ViT')
            self.cross_vit = None
            in_dim = embed_dim * embed_dim if connection == 'bp' else embed_dim
            self.cross_head = nn.Linear(in_dim, num_classes)
        # the official cross classifier lives inside the ViT and shares its init
        trunc_normal_(self.cross_head.weight, std=0.01)
        nn.init.zeros_(self.cross_head.bias)

    # ------------------------------------------------------------------------------------------
    # inference = the base network
    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode in ('tensor', 'predict') and inputs.dim() != 4:
            raise ValueError(f'{type(self).__name__}: inference runs the base network on '
                             f'N×3×H×W images, got {tuple(inputs.shape)}; evaluate with a '
                             'plain (non-quadruplet) dataset and test pipeline')
        return super().forward(inputs, data_samples, mode)

    def inference_model(self) -> FERClassifier:
        """A :class:`FERClassifier` that *shares* this model's ``backbone``, ``neck`` and
        ``head`` (no copy): the deployable base network, without any cross module. Its
        ``state_dict`` is the base subset of this model's."""
        cfg = copy.deepcopy(self._base_cfg)
        cfg['data_preprocessor']['type'] = 'ClsDataPreprocessor'
        base = FERClassifier(**cfg)
        base.backbone, base.neck, base.head = self.backbone, self.neck, self.head
        base.data_preprocessor.load_state_dict(self.data_preprocessor.state_dict())
        return base.train(self.training)

    # ------------------------------------------------------------------------------------------
    # training
    def extract_branches(self, inputs: torch.Tensor) -> List[Dict[str, torch.Tensor]]:
        """Base network on every branch: N×V×3×H×W → V feature dicts (``feat``, ``tokens`` ...)."""
        n, v = inputs.shape[:2]
        if self.branch_bn == 'separate':
            return [self.extract_feat(inputs[:, i].contiguous()) for i in range(v)]
        feats = self.extract_feat(inputs.flatten(0, 1))
        return [{k: _split_views(x, n, v, i) for k, x in feats.items()} for i in range(v)]

    def cross_refine(self, tokens: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Per level CSA over the branches; returns Z_X (N×T×C) per branch."""
        levels = [t.chunk(self.num_levels, dim=1) for t in tokens]
        zs = [csa([lv[l] for lv in levels]) for l, csa in enumerate(self.cross_necks)]
        return [torch.cat([zs[l][x] for l in range(self.num_levels)], dim=1)
                for x in range(len(tokens))]

    def cross_classify(self, g: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Cross logits N×K from G_X = F_X + Z_X (and Z_X for bilinear pooling)."""
        if self.connection == 'vit':
            cls, _ = self.cross_vit(g)
            return self.cross_head(cls)
        if self.connection == 'gap':
            return self.cross_head(g.mean(dim=1))
        x = torch.einsum('ntc,ntd->ncd', g, z).flatten(1) / g.shape[1]
        x = torch.sign(x) * torch.sqrt(x.abs() + 1e-5)
        return self.cross_head(F.normalize(x, dim=1) * 100)

    def branch_targets(self, data_samples: List[DataSample], device) -> List[torch.Tensor]:
        """(y, y) for DCS, (y, y, y′, y′) for QCS."""
        y = gather_labels(data_samples, device)
        if 'neg_label' not in self.train_label_fields:   # DCS: anchor and positive only
            return [y, y]
        if not all('neg_label' in ds for ds in data_samples):
            raise KeyError(f'{type(self).__name__}: QCS training needs the negatives\' label '
                           '(data field "neg_label"); wrap the training dataset in '
                           'QuadrupletDataset(num_branches=4)')
        y_neg = torch.cat([ds.neg_label for ds in data_samples]).long().to(device)
        return [y, y, y_neg, y_neg]

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        if inputs.dim() != 5 or inputs.shape[1] != self.num_branches:
            raise ValueError(f'{type(self).__name__}: training inputs must be N×'
                             f'{self.num_branches}×3×H×W (branches a, p[, n, n2]), got '
                             f'{tuple(inputs.shape)}; wrap the training dataset in '
                             f'QuadrupletDataset(num_branches={self.num_branches})')
        targets = self.branch_targets(data_samples, inputs.device)
        feats = self.extract_branches(inputs)
        norm = 1.0 / (2 * self.num_branches)

        losses: Dict[str, torch.Tensor] = {}
        names = [loss.loss_name for loss in self.head.losses]
        keys = ['loss_base'] if len(names) == 1 else \
            ['loss_base_' + (n[5:] if n.startswith('loss_') else n) for n in names]
        for f, y in zip(feats, targets):
            outputs = dict(f, logits=self.head(f))
            for key, loss in zip(keys, self.head.losses):
                losses[key] = losses.get(key, 0) + norm * loss(outputs, y)

        tokens = [f['tokens'] for f in feats]
        zs = self.cross_refine(tokens)
        loss_cross = 0
        for t, z, y in zip(tokens, zs, targets):
            logits = self.cross_classify(t + z, z)
            loss_cross = loss_cross + norm * F.cross_entropy(logits, y)
        losses['loss_cross'] = loss_cross
        return losses


@MODELS.register_module()
class DCSClassifier(QCSClassifier):
    """:class:`QCSClassifier` with 2 branches (anchor, positive) by default: DCS."""

    def __init__(self, *args, num_branches: int = 2, **kwargs):
        super().__init__(*args, num_branches=num_branches, **kwargs)
