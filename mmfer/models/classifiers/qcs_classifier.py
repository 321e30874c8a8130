"""QCS / DCS (qcs.md §2, §5): :class:`MultiViewClassifier` presets, nothing more.

The base network (``backbone`` → ``neck`` → ``head``) is all that runs at inference. Training
adds the cross stage :class:`~mmfer.models.necks.QCSCrossStage` (``cross_neck``: one CSA per
feature level + the cross ViT / GAP / bilinear connection) and the cross classifier
``cross_head`` (an ``FERClsHead`` whose loss is ``FERCrossEntropyLoss(loss_name='loss_cross',
loss_weight=0.5)``), both registered modules.

Training batch: ``inputs`` N×V×3×H×W (V = 4, branch order a, p, n, n2; or V = 2, a, p) from
:class:`~mmfer.datasets.quadruplet.QuadrupletDataset`, labels y (``gt_label``, for a and p) and
y′ (``neg_label``, for n and n2) — the preset's ``view_label_fields``. The spec's loss is the
average of the 2V cross-entropies::

    L = 1/(2V) Σ_X [CE(z^base_X, y_X) + CE(z^cross_X, y_X)]
      = 0.5 · mean_X CE(z^base_X, y_X) + 0.5 · mean_X CE(z^cross_X, y_X)

i.e. the base head's CE with ``loss_weight=0.5`` (logged ``loss_base``; the shipped configs state
it) and the cross head's (``loss_cross``), each averaged over the views.

What the preset fills in: ``num_views`` = ``num_branches``; ``view_label_fields``; the cross
stage from ``cross_neck`` (CSA options; default mode ``'qcs_sd'`` for 4 branches, ``'dcs_s'`` for
2), ``cross_vit``, ``num_levels``, ``connection`` and the token shape the neck declares
(``token_shape``; or ``cross_vit=dict(num_tokens=..., embed_dim=...)``); the default
``cross_head``. Any of it can be written out in a config of ``MultiViewClassifier`` instead.
"""
import copy
from typing import Optional

from mmfer.models.classifiers.multi_view import MultiViewClassifier
from mmfer.models.necks.qcs_cross_stage import CONNECTIONS
from mmfer.registry import MODELS

QCS_LABEL_FIELDS = {4: ('gt_label', 'gt_label', 'neg_label', 'neg_label'),
                    2: ('gt_label', 'gt_label')}


def default_cross_head(num_classes: int, in_channels: int) -> dict:
    """The official cross classifier: Linear(in → K), trunc-normal std 0.01, bias 0, trained
    with 0.5 · mean-over-views CE (``loss_cross``)."""
    return dict(type='FERClsHead', num_classes=num_classes, in_channels=in_channels,
                losses=[dict(type='FERCrossEntropyLoss', loss_weight=0.5, loss_name='loss_cross')],
                init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01, bias=0.))


@MODELS.register_module()
class QCSClassifier(MultiViewClassifier):
    """Quadruplet (or dual) cross similarity training of a base FER network.

    Args:
        backbone, neck, head (dict): the base network. The neck must return ``tokens``
            (N×T×C) besides ``feat`` and declare ``token_shape`` (e.g. ``POSTERBase``).
        num_branches (int): 4 (QCS, default) or 2 (DCS).
        cross_neck (dict): options of the per-level :class:`CrossSimilarityAttention`.
        cross_vit (dict): options of the cross :class:`POSTERViT` (``num_tokens`` /
            ``embed_dim`` override the neck's token shape).
        num_levels (int): feature levels the tokens split into.
        connection (str): ``'vit'`` (official), ``'gap'`` or ``'bp'``.
        branch_bn (str): ``'separate'`` (official) or ``'joint'``.
        cross_head (dict, optional): the cross classifier; default :func:`default_cross_head`.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, num_branches: int = 4,
                 cross_neck: Optional[dict] = None, cross_vit: Optional[dict] = None,
                 num_levels: int = 3, connection: str = 'vit', branch_bn: str = 'separate',
                 cross_head: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 pretrained=None, init_cfg: Optional[dict] = None):
        if num_branches not in QCS_LABEL_FIELDS:
            raise ValueError(f'{type(self).__name__}: num_branches must be 4 (QCS) or 2 (DCS), '
                             f'got {num_branches}')
        if connection not in CONNECTIONS:
            raise ValueError(f'{type(self).__name__}: connection={connection!r} is not one of '
                             f'{list(CONNECTIONS)}')
        super().__init__(backbone=backbone, head=head, neck=neck, num_views=num_branches,
                         view_label_fields=QCS_LABEL_FIELDS[num_branches], branch_bn=branch_bn,
                         data_preprocessor=data_preprocessor, pretrained=pretrained,
                         init_cfg=init_cfg)
        self.num_branches = num_branches
        cross_vit = dict(cross_vit or {})
        shape = getattr(self.neck, 'token_shape', (None, None))
        num_tokens = cross_vit.pop('num_tokens', shape[0])
        embed_dim = cross_vit.pop('embed_dim', shape[1])
        if num_tokens is None or embed_dim is None:
            raise ValueError(f'{type(self).__name__}: the neck {type(self.neck).__name__} '
                             'declares no token_shape; give cross_vit=dict(num_tokens=..., '
                             'embed_dim=...)')
        csa = dict(cross_neck or {})
        csa.setdefault('mode', 'qcs_sd' if num_branches == 4 else 'dcs_s')
        self.cross_neck = MODELS.build(dict(
            type='QCSCrossStage', embed_dim=embed_dim, num_tokens=num_tokens,
            num_levels=num_levels, csa=csa, connection=connection,
            vit=cross_vit if connection == 'vit' else (cross_vit or None)))
        if num_branches not in self.cross_neck.num_branches:
            raise ValueError(f'{type(self).__name__}: cross_neck mode {csa["mode"]!r} does not '
                             f'take {num_branches} branches')
        self.cross_head = MODELS.build(copy.deepcopy(cross_head) if cross_head else
                                       default_cross_head(self.head.num_classes,
                                                          self.cross_neck.out_channels))

    def view_hint(self) -> str:
        return (f'wrap the training dataset in QuadrupletDataset(num_branches='
                f'{self.num_branches}) (branches a, p[, n, n2])')


@MODELS.register_module()
class DCSClassifier(QCSClassifier):
    """:class:`QCSClassifier` with 2 branches (anchor, positive) by default: DCS."""

    def __init__(self, *args, num_branches: int = 2, **kwargs):
        super().__init__(*args, num_branches=num_branches, **kwargs)
