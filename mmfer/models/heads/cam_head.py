"""CAMClsHead: GAP → FC classifier that exposes the class activation maps of all classes.

DacFER / EAC (spec ``dacfer.md`` §1.2): with the last feature map F ∈ ℝ^{N×C×h×w} and the FC
weight W ∈ ℝ^{K×C},

    M_{n,k,i,j} = Σ_c W_{k,c} · F_{n,c,i,j}            M ∈ ℝ^{N×K×h×w}

(no FC bias, no ReLU, no normalisation, no upsampling; N×7×7×7 for K = 7 at 224×224 with a
ResNet-50). By default W is **detached** (EAC's official code): a loss on M (the flip
consistency) trains the feature extractor only, the FC is trained by CE alone;
``detach_cam_weight=False`` lets that loss reach the FC. The CAM costs K·C·h·w MACs per image
and no parameter, and is computed only for the losses (training); inference is GAP → FC as in
:class:`FERClsHead`.
"""
from typing import Dict, List, Optional, Union

import torch

from mmfer.models.heads.fer_head import FERClsHead
from mmfer.registry import MODELS


@MODELS.register_module()
class CAMClsHead(FERClsHead):
    """:class:`FERClsHead` (logits = W·feat + b on ``feat`` = GAP of the map) whose losses also
    see ``cam`` (N×K×h×w) in each view's outputs.

    Args:
        num_classes (int): K.
        in_channels (int): C (2048 for ResNet-50 / SE-ResNet-50).
        losses (list[dict]): loss configs; e.g. ``FERCrossEntropyLoss(views=(0, ))`` and
            ``FlipConsistencyLoss`` (consumes ``cam``).
        detach_cam_weight (bool): compute M from ``fc.weight.detach()`` (default True, EAC).
        cam_key (str): the named tensor holding F (default ``'backbone_map'``, the backbone's
            last output).
        dropout (float), feat_key (str): as :class:`FERClsHead`.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 losses: Union[dict, List[dict]] = dict(type='FERCrossEntropyLoss'),
                 detach_cam_weight: bool = True, cam_key: str = 'backbone_map',
                 dropout: float = 0.0, feat_key: str = 'feat', init_cfg: Optional[dict] = None):
        super().__init__(num_classes, in_channels, losses=losses, dropout=dropout,
                         feat_key=feat_key, init_cfg=init_cfg)
        self.detach_cam_weight = bool(detach_cam_weight)
        self.cam_key = cam_key

    def cam(self, feature_map: torch.Tensor) -> torch.Tensor:
        """M = Σ_c W_{k,c} F_{n,c,i,j}: N×C×h×w → N×K×h×w (W detached unless configured)."""
        if feature_map.dim() != 4 or feature_map.shape[1] != self.in_channels:
            raise ValueError(f'CAMClsHead: {self.cam_key} must be N×{self.in_channels}×h×w '
                             f'(in_channels={self.in_channels}), got '
                             f'{tuple(feature_map.shape)}; set cam_key / in_channels to the '
                             'backbone\'s last feature map')
        weight = self.fc.weight.detach() if self.detach_cam_weight else self.fc.weight
        return torch.einsum('kc,nchw->nkhw', weight, feature_map)

    def view_outputs(self, feats: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """As :meth:`FERClsHead.view_outputs`, with ``cam`` added."""
        if self.cam_key not in feats:
            raise KeyError(f'CAMClsHead needs {self.cam_key!r} (the N×C×h×w feature map) in the '
                           f'features, got {sorted(feats)}')
        return dict(super().view_outputs(feats), cam=self.cam(feats[self.cam_key]))
