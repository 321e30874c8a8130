"""DAN's Multi-head cross Attention Network (MAN) and Attention Fusion Network (AFN) as a neck.

Wen et al., "Distract Your Attention: Multi-head Cross Attention Network for Facial Expression
Recognition" (arXiv 2109.07270); behaviour of the official code (yaoing/DAN), see
``specs/dan.md`` §1.  The backbone (FCN) is mmpretrain's ``ResNet(depth=18)``; the classifier
is :class:`mmfer.models.heads.DANHead`.

Notation: N batch, D backbone channels (512), R reduction channels (256), H heads, h×w map size.
"""
import warnings
from typing import Dict, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmfer.registry import MODELS


class ConvBN(ConvModule):
    """``bn(conv(x))``: mmcv's :class:`~mmcv.cnn.ConvModule` as a conv *with bias* followed by
    BatchNorm2d, no activation (the official DAN layer keeps the conv bias before its BN).

    ConvModule names its children ``conv`` and ``bn`` (``norm_cfg=dict(type='BN')``), so the
    parameter names stay ``conv.*`` / ``bn.*`` (the DAN converter's renaming map relies on
    them). Its construction-time ``init_weights`` (Kaiming-normal for ReLU, BN 1 / 0) is
    replaced by a no-op: the layers keep PyTorch's default construction init, exactly like the
    ``nn.Conv2d`` + ``nn.BatchNorm2d`` pair this replaced, so a seeded construction draws the
    same random numbers and gives the same parameters; :meth:`CrossAttentionHead.reset_parameters`
    then applies the official initialisation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, padding=0):
        with warnings.catch_warnings():
            # the bias is the official layer's, not an oversight
            warnings.filterwarnings('ignore', 'Unnecessary conv bias before batch/instance norm')
            super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=True,
                             norm_cfg=dict(type='BN'), act_cfg=None)

    def init_weights(self):
        """Keep PyTorch's default init (see the class docstring)."""


class SpatialAttentionUnit(nn.Module):
    """Spatial attention unit of one DAN head.

    For F ∈ ℝ^{N×D×h×w}:

    - U = BN(Conv1×1_{D→R}(F))                        (no activation)
    - V = ReLU(BN(Conv3×3(U)) + BN(Conv1×3(U)) + BN(Conv3×1(U))),  V ∈ ℝ^{N×D×h×w}
    - s = Σ_c V_c ∈ ℝ^{N×1×h×w}                       (a channel *sum*: no sigmoid, no softmax)
    - S = F ⊙ s

    Returns ``(S, s)``.
    """

    def __init__(self, in_channels: int = 512, reduction_channels: int = 256):
        super().__init__()
        self.conv1x1 = ConvBN(in_channels, reduction_channels, 1)
        self.conv3x3 = ConvBN(reduction_channels, in_channels, 3, padding=1)
        self.conv1x3 = ConvBN(reduction_channels, in_channels, (1, 3), padding=(0, 1))
        self.conv3x1 = ConvBN(reduction_channels, in_channels, (3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        u = self.conv1x1(x)
        v = F.relu(self.conv3x3(u) + self.conv1x3(u) + self.conv3x1(u))
        s = v.sum(dim=1, keepdim=True)
        return x * s, s


class ChannelAttentionUnit(nn.Module):
    """Channel attention unit of one DAN head.

    For S ∈ ℝ^{N×D×h×w}: g = GAP(S) ∈ ℝ^{N×D};
    a = σ(fc2(ReLU(bn(fc1(g))))) with fc1: D→K, bn = BatchNorm1d(K), fc2: K→D;
    the output is g ⊙ a ∈ ℝ^{N×D} (the gate multiplies the pooled vector, not the map).
    """

    def __init__(self, in_channels: int = 512, hidden_channels: int = 32):
        super().__init__()
        self.fc1 = nn.Linear(in_channels, hidden_channels)
        self.bn = nn.BatchNorm1d(hidden_channels)
        self.fc2 = nn.Linear(hidden_channels, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x.mean(dim=(2, 3))
        a = torch.sigmoid(self.fc2(F.relu(self.bn(self.fc1(g)))))
        return g * a


class CrossAttentionHead(nn.Module):
    """One DAN head: spatial unit then channel unit. Returns ``(h_i ∈ ℝ^{N×D}, s ∈ ℝ^{N×1×h×w})``."""

    def __init__(self, in_channels: int = 512, reduction_channels: int = 256,
                 ca_hidden: int = 32):
        super().__init__()
        self.spatial = SpatialAttentionUnit(in_channels, reduction_channels)
        self.channel = ChannelAttentionUnit(in_channels, ca_hidden)
        self.reset_parameters()

    def reset_parameters(self):
        """The official head initialisation (spec §1.5).

        Conv2d: Kaiming-normal (fan_out, gain √2), bias 0; BatchNorm2d: 1 / 0;
        Linear: N(0, 0.001²), bias 0; the channel unit's BatchNorm1d keeps PyTorch defaults.
        """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.001)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm1d):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        sa, s = self.spatial(x)
        return self.channel(sa), s


def attention_fusion(head_outputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """DAN's Attention Fusion Network on stacked head outputs Hm ∈ ℝ^{N×H×D}.

    If H > 1: L = log_softmax(Hm) over the head axis, i.e.
    L_{n,h,c} = Hm_{n,h,c} − log Σ_{h'} exp(Hm_{n,h',c}); if H = 1, L = Hm.
    z = Σ_h L_{n,h,:} ∈ ℝ^{N×D}.  For H > 1 every entry satisfies z ≤ −H·ln H.

    Returns ``(z, L)``.
    """
    if head_outputs.dim() != 3:
        raise ValueError(f'attention_fusion expects N×H×D head outputs, got shape '
                         f'{tuple(head_outputs.shape)}')
    if head_outputs.size(1) > 1:
        head_outputs = F.log_softmax(head_outputs, dim=1)
    return head_outputs.sum(dim=1), head_outputs


@MODELS.register_module()
class MultiHeadCrossAttention(BaseModule):
    """DAN neck: H independent cross-attention heads (MAN) fused by AFN.

    Input: the backbone's output tuple; its last map F ∈ ℝ^{N×D×h×w} is used
    (N×512×7×7 for ResNet-18 at 224 px).  Each head computes h_i ∈ ℝ^{N×D}
    (:class:`CrossAttentionHead`); :func:`attention_fusion` turns Hm = stack(h_i) into
    L (log-softmax over heads when H > 1) and z = Σ_h L.

    Returns a dict:

    - ``feat``: z, N×D — what :class:`DANHead` classifies;
    - ``head_feats``: L, N×H×D — consumed by :class:`PartitionLoss`;
    - ``attn_maps``: the heads' spatial maps s, N×H×h×w (non-negative, unnormalised; for
      visualisation).

    Module names follow the DAN converter map: ``heads.{i}.spatial.conv1x1.{conv,bn}``,
    ``.conv3x3``, ``.conv1x3``, ``.conv3x1``, ``heads.{i}.channel.{fc1,bn,fc2}``.

    Args:
        in_channels (int): D, channels of the backbone map (and of z). Default 512.
        num_heads (int): H ≥ 1. Default 4 (the paper's best).
        reduction_channels (int): R, output channels of the 1×1 conv. Default 256.
        ca_hidden (int): hidden width of the channel unit. Default 32.
        init_cfg (dict, optional): if given, replaces the official initialisation.
    """

    def __init__(self, in_channels: int = 512, num_heads: int = 4,
                 reduction_channels: int = 256, ca_hidden: int = 32,
                 init_cfg: Union[dict, Sequence[dict], None] = None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f'MultiHeadCrossAttention: num_heads must be an int ≥ 1, '
                             f'got {num_heads!r} (set model.neck.num_heads in the config)')
        for name, value in (('in_channels', in_channels),
                            ('reduction_channels', reduction_channels),
                            ('ca_hidden', ca_hidden)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'MultiHeadCrossAttention: {name} must be a positive int, '
                                 f'got {value!r}')
        self.in_channels = in_channels
        self.num_heads = num_heads
        self.heads = nn.ModuleList([
            CrossAttentionHead(in_channels, reduction_channels, ca_hidden)
            for _ in range(num_heads)
        ])

    def init_weights(self):
        # Without an init_cfg the official initialisation applies (also done at construction,
        # so a module built outside a Runner is initialised the same way).
        if self.init_cfg:
            super().init_weights()
        else:
            for head in self.heads:
                head.reset_parameters()

    def forward(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> Dict[str, torch.Tensor]:
        x = inputs[-1] if isinstance(inputs, (tuple, list)) else inputs
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(f'MultiHeadCrossAttention expects an N×{self.in_channels}×h×w map, '
                             f'got {tuple(x.shape)}; set model.neck.in_channels to the '
                             f'backbone\'s output channels')
        outs, maps = zip(*[head(x) for head in self.heads])
        z, log_heads = attention_fusion(torch.stack(outs, dim=1))
        return dict(feat=z, head_feats=log_heads, attn_maps=torch.cat(maps, dim=1))
