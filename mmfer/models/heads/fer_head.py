"""Classification heads that compute their losses from the named-tensor dict."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.structures import DataSample

from mmfer.registry import MODELS


def gather_labels(data_samples: Sequence[DataSample], device=None) -> torch.Tensor:
    """Stack the ``gt_label`` of every sample into a 1-D long tensor (N,)."""
    if not data_samples or 'gt_label' not in data_samples[0]:
        raise ValueError('training needs data samples with gt_label; got none')
    return torch.cat([ds.gt_label for ds in data_samples]).long().to(device)


@MODELS.register_module()
class FERClsHead(BaseModule):
    """Linear classifier over ``feats['feat']`` with a list of pluggable losses.

    logits = W·feat + b (after optional dropout), W ∈ ℝ^{C×D}.

    Args:
        num_classes (int): C.
        in_channels (int): D, the size of ``feat``.
        losses (list[dict]): loss configs (``BaseFERLoss`` subclasses). Default: CE.
        dropout (float): dropout on ``feat`` before the fc.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 losses: Union[dict, List[dict]] = dict(type='FERCrossEntropyLoss'),
                 dropout: float = 0.0, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)
        if isinstance(losses, dict):
            losses = [losses]
        self.losses = nn.ModuleList([MODELS.build(cfg) for cfg in losses])
        names = [loss.loss_name for loss in self.losses]
        if len(set(names)) != len(names):
            raise ValueError(f'two losses share a log name: {names}; give each a loss_name')

    def forward(self, feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fc(self.dropout(feats['feat']))

    def loss(self, feats: Dict[str, torch.Tensor], data_samples: List[DataSample]) -> dict:
        """Return ``{loss_name: weighted loss}`` for every configured loss."""
        logits = self(feats)
        outputs = dict(feats, logits=logits)
        target = gather_labels(data_samples, logits.device)
        return {loss.loss_name: loss(outputs, target) for loss in self.losses}

    def predict(self, feats: Dict[str, torch.Tensor],
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        logits = self(feats)
        return self.build_predictions(logits, data_samples)

    @staticmethod
    def build_predictions(logits: torch.Tensor,
                          data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Softmax scores and argmax labels into (new or given) ``DataSample``s."""
        scores = F.softmax(logits, dim=1)
        labels = scores.argmax(dim=1, keepdim=True).detach()
        if data_samples is None:
            data_samples = [DataSample() for _ in range(logits.size(0))]
        for ds, score, label in zip(data_samples, scores, labels):
            ds.set_pred_score(score).set_pred_label(label)
        return data_samples
