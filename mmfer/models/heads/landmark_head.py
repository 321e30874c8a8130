"""LandmarkHead: facial-landmark regression from the vector a backbone produces."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmfer.registry import MODELS
from .fer_head import LossHead


@MODELS.register_module()
class LandmarkHead(LossHead):
    """L landmarks from ``feats[feat_key]`` (N×D): P = reshape(φ(feat), N×L×2), in units of the
    input size (x / W, y / H ∈ [0, 1] inside the image).

    φ is the identity when D = 2L (e.g. MobileFaceNet's 136-output GDC head, whose outputs are
    normalised coordinates, as in the landmark detector PCDA freezes), else a Linear(D → 2L).
    The losses see ``landmarks_pred`` (N×L×2, normalised) and the data-sample field ``landmarks``
    (N×L×2 pixels); :meth:`predict` writes ``pred_landmarks`` in pixels of the input.

    Args:
        num_landmarks (int): L (68 for the iBUG scheme).
        in_channels (int): D.
        input_size (int | tuple): the network input (H, W) in pixels; a square size may be an int.
        losses (list[dict]): default ``LandmarkLoss`` (L1).
        feat_key (str): the named tensor regressed. Default ``'feat'``.
    """

    num_classes = None  # not a classifier: no class-count check applies

    def __init__(self, num_landmarks: int = 68, in_channels: int = 136,
                 input_size: Union[int, Tuple[int, int]] = 112,
                 losses: Union[dict, List[dict]] = dict(type='LandmarkLoss'),
                 feat_key: str = 'feat', init_cfg: Optional[dict] = None):
        super().__init__(losses, feat_key=feat_key, init_cfg=init_cfg)
        self.num_landmarks = num_landmarks
        self.in_channels = in_channels
        h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
        self.register_buffer('scale', torch.tensor([float(w), float(h)]), persistent=False)
        self.fc = nn.Identity() if in_channels == 2 * num_landmarks else \
            nn.Linear(in_channels, 2 * num_landmarks)

    def forward(self, feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Normalised landmarks N×L×2."""
        return self.fc(feats[self.feat_key]).view(-1, self.num_landmarks, 2)

    def view_outputs(self, feats: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return dict(feats, landmarks_pred=self(feats), landmark_scale=self.scale)

    def predict(self, feats: Dict[str, torch.Tensor],
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        pred = (self(feats) * self.scale).detach()
        if data_samples is None:
            data_samples = [DataSample() for _ in range(pred.size(0))]
        for ds, p in zip(data_samples, pred):
            ds.set_field(p, 'pred_landmarks')
        return data_samples
