"""DAN's classifier: Linear + BatchNorm1d on the logits (specs/dan.md §1.3, §8 row 6)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn

from mmfer.registry import MODELS
from .fer_head import FERClsHead


#: K of the official code's ``AffinityLoss(num_class=8)`` default, which rafdb.py keeps for
#: RAF-DB's 7 classes (the released 89.70 % model was trained with it; specs/dan.md §2.1)
OFFICIAL_NUM_CENTERS = 8
AFFINITY_CENTERS = ('official', 'num_classes')


def dan_num_centers(num_classes: int, affinity_centers: str = 'official') -> int:
    """K, the number of affinity centers: ``'official'`` → 8 (never fewer than C, so that
    every class has a center), ``'num_classes'`` → C (the paper's one center per class; also
    what the official affectnet.py passes)."""
    if affinity_centers not in AFFINITY_CENTERS:
        raise ValueError(f'affinity_centers must be one of {AFFINITY_CENTERS}, got '
                         f'{affinity_centers!r}')
    if affinity_centers == 'num_classes':
        return num_classes
    return max(OFFICIAL_NUM_CENTERS, num_classes)


def dan_default_losses(num_classes: int, feat_dim: int,
                       affinity_centers: str = 'official') -> List[dict]:
    """The official loss set: CE + 1·affinity (K centers, see :func:`dan_num_centers`; K = 8
    by default) + 1·partition (official mode)."""
    return [
        dict(type='FERCrossEntropyLoss', loss_weight=1.0),
        dict(type='AffinityLoss', num_centers=dan_num_centers(num_classes, affinity_centers),
             feat_dim=feat_dim, loss_weight=1.0),
        dict(type='PartitionLoss', mode='official', loss_weight=1.0),
    ]


@MODELS.register_module()
class DANHead(FERClsHead):
    """logits = BN1d_C(W·z + b), W ∈ ℝ^{C×D}: the official DAN classifier.

    ``fc`` (Linear D→C with bias) then ``bn`` (BatchNorm1d over the C logits; running statistics
    at eval).  ``bn_on_logits=False`` gives the paper's plain linear layer.  Both keep PyTorch's
    default initialisation, as the official code.

    Because of the BatchNorm on the logits a training batch of one sample cannot be processed.
    The DAN configs keep the last partial batch as the official loop does; a last batch of one
    sample is dropped by the default hook
    :class:`~mmfer.engine.hooks.single_sample_batch_hook.SingleSampleBatchHook`.

    Args:
        num_classes (int): C.
        in_channels (int): D, size of the neck's ``feat`` (z). Default 512.
        bn_on_logits (bool): official BatchNorm1d on the logits. Default True.
        losses (list[dict], optional): loss configs; default (None) is the official set
            ``[FERCrossEntropyLoss, AffinityLoss(num_centers=K, feat_dim=D), PartitionLoss]``
            (:func:`dan_default_losses`). The affinity centers live here (``losses.{i}.centers``)
            so the optimizer sees them.
        affinity_centers (str, optional): K of that default set: ``'official'`` (default) K = 8,
            the official ``AffinityLoss`` default that rafdb.py uses for RAF-DB's 7 classes
            (max(8, C) for more classes); ``'num_classes'`` K = C, the paper's one center per
            class. Only with ``losses=None``: with an explicit list set ``num_centers`` in its
            ``AffinityLoss`` (giving both raises).
        dropout (float): dropout on z before the fc (not in DAN). Default 0.
    """

    def __init__(self, num_classes: int, in_channels: int = 512, bn_on_logits: bool = True,
                 losses: Union[dict, List[dict], None] = None, dropout: float = 0.0,
                 affinity_centers: Optional[str] = None, init_cfg: Optional[dict] = None):
        if losses is None:
            losses = dan_default_losses(num_classes, in_channels,
                                        affinity_centers or 'official')
        elif affinity_centers is not None:
            raise ValueError(
                f'DANHead: affinity_centers={affinity_centers!r} applies to the default loss set '
                'only, but losses are given. Fix: set num_centers in their AffinityLoss (8 '
                'official, C for the paper), or drop losses to use the default set')
        super().__init__(num_classes=num_classes, in_channels=in_channels, losses=losses,
                         dropout=dropout, init_cfg=init_cfg)
        self.bn_on_logits = bn_on_logits
        self.bn = nn.BatchNorm1d(num_classes) if bn_on_logits else nn.Identity()

    def forward(self, feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        feat = feats['feat']
        if self.bn_on_logits and self.training and feat.size(0) < 2:
            raise ValueError(
                f'DANHead: BatchNorm1d on the logits needs ≥ 2 samples per training batch, got '
                f'{feat.size(0)}. A last batch of one sample is dropped by SingleSampleBatchHook '
                f'(default_hooks.single_sample_batch in configs/_base_/default_runtime.py): keep '
                f'it enabled, or set drop_last=True on train_dataloader, or use a larger '
                f'batch_size')
        return self.bn(self.fc(self.dropout(feat)))
