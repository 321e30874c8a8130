"""LAN's local attention network (Cho & Lee, IEEE Access 2022; specs/lan.md §1, §3.1-3.2).

Given the last backbone map F_o ∈ ℝ^{N×C×H×W} (ResNet-18 layer4: N×512×7×7):

- four 3×3 convolutions (stride 1, padding 1, so H×W is kept), BN + ReLU after the first three
  (``norm='BN'``, or none), a plain fourth conv to one channel → logits A ∈ ℝ^{N×1×H×W};
- F_m = sigmoid(A) ∈ (0, 1)^{N×1×H×W}, the local attention map;
- F_a = F_o ⊙ F_m (Eq. 1, one map for every channel); f_a = GAP(F_a), f_o = GAP(F_o)
  (plain means over the H·W positions, not normalised by Σ F_m — a choice, §3.2);
- f = f_o ⊕ f_a (Eq. 2): ``fusion='add'`` (paper default), ``'concat'`` ([f_o, f_a], 2C) or
  ``'avg'`` ((f_o + f_a) / 2).

The paper does not give the conv widths, normalisation or initialisation; the defaults
(512→256→128→64→1, BN, Kaiming-normal fan_out, last bias 0 so F_m starts at 0.5) are the choices
of specs/lan.md §3.1, each an argument.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmfer.registry import MODELS

FUSIONS = ('add', 'concat', 'avg')
NORMS = ('BN', None)


@MODELS.register_module()
class LocalAttention(BaseModule):
    """LAN neck: ``feat`` (f), ``attn_maps`` (F_m), ``attn_logits`` (A), ``local_feat`` (f_a)
    and ``global_feat`` (f_o) from the last backbone map.

    Args:
        in_channels (int): C of F_o. Default 512.
        widths (sequence[int]): output widths of the first three convs (the fourth outputs 1).
            Default (256, 128, 64).
        norm (str | None): ``'BN'`` (BatchNorm2d + ReLU after each of the first three convs,
            default) or ``None`` (ReLU only).
        fusion (str): ``'add'`` (default), ``'concat'`` or ``'avg'``.
        in_index (int): which backbone output is F_o. Default -1 (the last).

    Shapes: input tuple whose ``in_index`` entry is N×C×H×W; outputs ``feat`` N×C (N×2C for
    ``concat``), ``attn_maps`` / ``attn_logits`` N×1×H×W.
    """

    def __init__(self, in_channels: int = 512, widths: Sequence[int] = (256, 128, 64),
                 norm: Optional[str] = 'BN', fusion: str = 'add', in_index: int = -1,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if fusion not in FUSIONS:
            raise ValueError(f'LocalAttention: fusion={fusion!r} is not one of {list(FUSIONS)}')
        if norm not in NORMS:
            raise ValueError(f'LocalAttention: norm={norm!r}; use "BN" or None')
        widths = tuple(int(w) for w in widths)
        if len(widths) != 3 or min(widths) <= 0:
            raise ValueError(f'LocalAttention: widths must be three positive conv widths (the '
                             f'fourth conv outputs the 1-channel map), got {widths}')
        self.in_channels = in_channels
        self.widths = widths
        self.norm = norm
        self.fusion = fusion
        self.in_index = in_index
        layers = []
        c = in_channels
        for w in widths:
            layers.append(nn.Conv2d(c, w, 3, 1, 1, bias=True))
            if norm == 'BN':
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.ReLU(inplace=True))
            c = w
        layers.append(nn.Conv2d(c, 1, 3, 1, 1, bias=True))
        self.attention = nn.Sequential(*layers)
        self._init_lan()

    @property
    def out_channels(self) -> int:
        """Size of ``feat`` (what the FC classifies)."""
        return 2 * self.in_channels if self.fusion == 'concat' else self.in_channels

    def _init_lan(self) -> None:
        """Kaiming-normal (fan_out, ReLU) convs with zero bias, BN weight 1 / bias 0."""
        for m in self.attention.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def init_weights(self):
        if self.init_cfg is not None:
            super().init_weights()
        else:
            self._init_lan()

    def forward(self, inputs: Union[torch.Tensor, Tuple[torch.Tensor, ...]]
                ) -> Dict[str, torch.Tensor]:
        fo = inputs[self.in_index] if isinstance(inputs, (tuple, list)) else inputs
        if fo.dim() != 4 or fo.shape[1] != self.in_channels:
            raise ValueError(f'LocalAttention expects an N×{self.in_channels}×H×W map, got '
                             f'{tuple(fo.shape)}; set in_channels to the backbone width')
        logits = self.attention(fo)
        fm = torch.sigmoid(logits)
        f_o = fo.mean(dim=(2, 3))
        f_a = (fo * fm).mean(dim=(2, 3))
        if self.fusion == 'add':
            feat = f_o + f_a
        elif self.fusion == 'avg':
            feat = (f_o + f_a) / 2
        else:
            feat = torch.cat([f_o, f_a], dim=1)
        return dict(feat=feat, attn_maps=fm, attn_logits=logits, local_feat=f_a,
                    global_feat=f_o)
