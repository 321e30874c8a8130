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


# ---------------------------------------------------------------------------------------------
# Example 2 (docs/add_plugin.md §5): a loss over two views, and the transform that makes them.
from mmcv.transforms import BaseTransform  # noqa: E402

from mmfer.registry import TRANSFORMS  # noqa: E402


@TRANSFORMS.register_module()
class StackFlippedView(BaseTransform):
    """After ``PackInputs``: ``inputs`` 3×H×W → 2×3×H×W (the image, its horizontal flip).

    The view axis is what ``MultiViewClassifier`` trains on (``num_views=2``)."""

    def transform(self, results):
        x = results['inputs']
        results['inputs'] = torch.stack([x, x.flip(-1)])
        return results


@MODELS.register_module()
class ViewAgreementLoss(BaseFERLoss):
    """Predictions of two views agree: L = mean_n ‖softmax(z⁰_n) − softmax(z¹_n)‖² / 2.

    ``multi_view = True``: ``compute`` gets, for each consumed name, the list of the views'
    tensors (here ``[z⁰, z¹]``); it reads no data-sample field (``target_fields = ()``)."""
    consumes = ('logits', )
    target_fields = ()
    multi_view = True
    default_name = 'loss_agree'

    def compute(self, logits):
        p, q = (z.softmax(dim=1) for z in logits[:2])
        return ((p - q) ** 2).sum(dim=1).mean() / 2


# ---------------------------------------------------------------------------------------------
# Example 3 (docs/add_plugin.md §6): a neck that uses a frozen auxiliary network.
@MODELS.register_module()
class GuidedPoolNeck(BaseModule):
    """Pool the backbone map where a frozen guide network responds.

    g = σ(mean_c G) ∈ ℝ^{N×1×h×w} from the guide's last map G (``aux['guide']``, resized to the
    backbone map); feat = Σ_ij g_ij F_ij / Σ_ij g_ij. ``uses_aux = True`` makes
    ``FERClassifier`` call ``forward(backbone_feats, aux={name: outputs})``."""
    uses_aux = True

    def __init__(self, guide: str = 'guide', init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.guide = guide

    def forward(self, inputs, aux):
        x = inputs[-1]
        g = aux[self.guide][-1].mean(dim=1, keepdim=True)
        g = torch.sigmoid(nn.functional.interpolate(g, size=x.shape[-2:], mode='bilinear',
                                                    align_corners=False))
        feat = (g * x).sum(dim=(2, 3)) / g.sum(dim=(2, 3)).clamp_min(1e-6)
        return dict(feat=feat, attn_maps=g)
