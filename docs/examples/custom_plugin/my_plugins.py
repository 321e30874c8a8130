"""A user's own plugins, in the user's own file (docs/add_plugin.md walks through it)."""
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmfer.models.losses.base import BaseFERLoss
from mmfer.registry import MODELS


@MODELS.register_module()
class GatedPoolNeck(BaseModule):
    """Spatial gate then average pooling.

    a = σ(conv1×1(F)) ∈ ℝ^{N×1×h×w};  feat = Σ_{ij} a_ij F_ij / Σ_{ij} a_ij ∈ ℝ^{N×C}.
    Returns ``feat`` and ``attn_maps`` (N×1×h×w) so that attention losses and
    ``tools/analysis/vis_attention.py`` can use the gate.
    """

    def __init__(self, in_channels: int, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.gate = nn.Conv2d(in_channels, 1, kernel_size=1)

    def forward(self, inputs):
        x = inputs[-1]
        a = torch.sigmoid(self.gate(x))
        feat = (a * x).sum(dim=(2, 3)) / a.sum(dim=(2, 3)).clamp_min(1e-6)
        return dict(feat=feat, attn_maps=a)


@MODELS.register_module()
class GateSparsityLoss(BaseFERLoss):
    """Mean gate value: L = mean_{n,i,j} a_nij (pushes the gate to select few positions)."""
    consumes = ('attn_maps', )
    default_name = 'loss_gate'

    def compute(self, attn_maps, target):
        return attn_maps.mean()
