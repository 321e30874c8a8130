"""DAN's classifier: Linear + BatchNorm1d on the logits (specs/dan.md §1.3, §8 row 6)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn

from mmfer.registry import MODELS
from .fer_head import FERClsHead


def dan_default_losses(num_classes: int, feat_dim: int) -> List[dict]:
    """The official loss set: CE + 1·affinity (K = C centers) + 1·partition (official mode)."""
    return [
        dict(type='FERCrossEntropyLoss', loss_weight=1.0),
        dict(type='AffinityLoss', num_centers=num_classes, feat_dim=feat_dim, loss_weight=1.0),
        dict(type='PartitionLoss', mode='official', loss_weight=1.0),
    ]


@MODELS.register_module()
class DANHead(FERClsHead):
    """logits = BN1d_C(W·z + b), W ∈ ℝ^{C×D}: the official DAN classifier.

    ``fc`` (Linear D→C with bias) then ``bn`` (BatchNorm1d over the C logits; running statistics
    at eval).  ``bn_on_logits=False`` gives the paper's plain linear layer.  Both keep PyTorch's
    default initialisation, as the official code.

    Because of the BatchNorm on the logits a training batch of one sample cannot be processed:
    DAN configs set ``drop_last=True`` on the train dataloader.

    Args:
        num_classes (int): C.
        in_channels (int): D, size of the neck's ``feat`` (z). Default 512.
        bn_on_logits (bool): official BatchNorm1d on the logits. Default True.
        losses (list[dict], optional): loss configs; default (None) is the official set
            ``[FERCrossEntropyLoss, AffinityLoss(num_centers=C, feat_dim=D), PartitionLoss]``.
            The affinity centers live here (``losses.{i}.centers``) so the optimizer sees them.
        dropout (float): dropout on z before the fc (not in DAN). Default 0.
    """

    def __init__(self, num_classes: int, in_channels: int = 512, bn_on_logits: bool = True,
                 losses: Union[dict, List[dict], None] = None, dropout: float = 0.0,
                 init_cfg: Optional[dict] = None):
        if losses is None:
            losses = dan_default_losses(num_classes, in_channels)
        super().__init__(num_classes=num_classes, in_channels=in_channels, losses=losses,
                         dropout=dropout, init_cfg=init_cfg)
        self.bn_on_logits = bn_on_logits
        self.bn = nn.BatchNorm1d(num_classes) if bn_on_logits else nn.Identity()

    def forward(self, feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        feat = feats['feat']
        if self.bn_on_logits and self.training and feat.size(0) < 2:
            raise ValueError(
                f'DANHead: BatchNorm1d on the logits needs ≥ 2 samples per training batch, got '
                f'{feat.size(0)}; set drop_last=True on train_dataloader (a last batch of one '
                f'sample) or use a larger batch_size')
        return self.bn(self.fc(self.dropout(feat)))
