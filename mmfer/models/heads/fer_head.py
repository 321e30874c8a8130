"""Classification heads that compute their losses from the named-tensor dict."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample

from mmfer.models.losses.base import apply_losses
from mmfer.models.targets import gather_targets, loss_target_fields
from mmfer.registry import MODELS


class LossHead(BaseModule):
    """What every mmfer head shares: a list of configured losses (``BaseFERLoss``), the
    data-sample fields they declare, and the loss computation over one or several views.

    A subclass implements ``forward(feats)`` and may extend :meth:`view_outputs` (the named
    tensors its losses see for one view, e.g. ``logits`` or ``cam``).
    """

    def __init__(self, losses: Union[dict, List[dict]], feat_key: str = 'feat',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.feat_key = feat_key
        if isinstance(losses, dict):
            losses = [losses]
        self.losses = nn.ModuleList([MODELS.build(cfg) for cfg in losses])
        names = [loss.loss_name for loss in self.losses]
        if len(set(names)) != len(names):
            raise ValueError(f'two losses share a log name: {names}; give each a loss_name')

    @property
    def target_fields(self) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
        """(required, optional) data-sample fields of this head's losses."""
        return loss_target_fields(self.losses)

    def view_outputs(self, feats: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The named tensors the losses see for one view."""
        raise NotImplementedError

    def loss_views(self, feats: List[Dict[str, torch.Tensor]],
                   targets: List[Dict[str, torch.Tensor]]) -> dict:
        """``{loss_name: weighted loss}`` over per-view feature dicts and per-view targets."""
        return apply_losses(self.losses, [self.view_outputs(f) for f in feats], targets)

    def loss(self, feats: Dict[str, torch.Tensor], data_samples: List[DataSample]) -> dict:
        """Return ``{loss_name: weighted loss}`` for every configured loss (one view)."""
        required, optional = self.target_fields
        device = feats[self.feat_key].device
        targets = gather_targets(data_samples, required, optional, device=device)
        return self.loss_views([feats], [targets])


@MODELS.register_module()
class FERClsHead(LossHead):
    """Linear classifier over ``feats[feat_key]`` with a list of pluggable losses.

    logits = W·feat + b (after optional dropout), W ∈ ℝ^{C×D}.

    Losses see ``dict(feats, logits=logits)`` per view and the batch targets
    (:mod:`mmfer.models.losses.base`); a head can also serve a training-only stage of a
    multi-view classifier (e.g. QCS's cross classifier), through :meth:`loss_views`.

    Args:
        num_classes (int): C.
        in_channels (int): D, the size of ``feat``.
        losses (list[dict]): loss configs (``BaseFERLoss`` subclasses). Default: CE.
        dropout (float): dropout on ``feat`` before the fc.
        feat_key (str): which named tensor is classified. Default ``'feat'``.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 losses: Union[dict, List[dict]] = dict(type='FERCrossEntropyLoss'),
                 dropout: float = 0.0, feat_key: str = 'feat', init_cfg: Optional[dict] = None):
        super().__init__(losses, feat_key=feat_key, init_cfg=init_cfg)
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fc(self.dropout(feats[self.feat_key]))

    def view_outputs(self, feats: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return dict(feats, logits=self(feats))

    def predict(self, feats: Dict[str, torch.Tensor],
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        return self.build_predictions(self(feats), data_samples)

    @staticmethod
    def build_predictions(logits: torch.Tensor,
                          data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Softmax scores and argmax labels into (new or given) ``DataSample``s — mmpretrain's
        ``ClsHead._get_predictions``, which does exactly this and reads nothing of the head."""
        return ClsHead._get_predictions(None, logits, data_samples)
