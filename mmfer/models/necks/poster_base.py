"""POSTER++ without landmarks: the base network of QCS/DCS (spec ``qcs.md`` §1).

Two registered modules:

- :class:`POSTERViT` — POSTER++'s small ViT over given tokens (cls token, position embedding,
  pre-norm blocks, final LayerNorm, SE gate on the cls output). No patch embedding and no
  classifier: the head is a separate module (``FERClsHead``).
- :class:`POSTERBase` — the neck that turns IR-50's three stage maps into 147 tokens of width 768
  and runs a :class:`POSTERViT` over them.

The attention layer is mmpretrain's ``MultiheadAttention`` (its ``qkv`` / ``proj`` names equal the
official ones); everything else — the SE gate, the ``fc1``/``fc2`` MLP naming of the official
checkpoints, the multi-scale token embedding — has no mmpretrain counterpart and is written here.

FLOPs note: on CPU ``F.scaled_dot_product_attention`` dispatches to
``aten._scaled_dot_product_flash_attention_for_cpu``, which torch's own
``FlopCounterMode`` registry does not count (67.3 M MACs of the 8.118 G at 224);
``mmfer.utils.flops`` / ``tools/analysis/get_flops.py`` add the formula.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import MultiheadAttention

from mmfer.registry import MODELS


class POSTERMlp(nn.Module):
    """``fc2(drop(GELU(fc1 x)))`` followed by dropout; N×T×C → N×T×C (hidden C·mlp_ratio)."""

    def __init__(self, embed_dim: int, hidden_dim: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, embed_dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class POSTERBlock(nn.Module):
    """Pre-norm transformer block without drop-path.

    x ← x + Attn(LN₁(x));  x ← x + MLP(LN₂(x)).   LayerNorm eps 1e-6; attention: ``num_heads``
    heads of C/num_heads, scale (C/num_heads)^-½, attention dropout 0, output-projection dropout
    ``proj_drop``; MLP dropout ``drop``.
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4., drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim, eps=1e-6)
        self.attn = MultiheadAttention(embed_dim, num_heads, attn_drop=0., proj_drop=proj_drop,
                                       qkv_bias=True)
        self.norm2 = nn.LayerNorm(embed_dim, eps=1e-6)
        self.mlp = POSTERMlp(embed_dim, int(embed_dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SEGate(nn.Module):
    """Squeeze-excitation gate on a vector: h ⊙ σ(fc2(ReLU(fc1 h))), fc1, fc2 ∈ ℝ^{C×C}."""

    def __init__(self, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h * torch.sigmoid(self.fc2(torch.relu(self.fc1(h))))


@MODELS.register_module()
class POSTERViT(BaseModule):
    """POSTER++'s ViT over a fixed number of tokens (``VIT_base`` / ``VIT_cross`` of QCS).

    Given tokens X ∈ ℝ^{N×T×C}::

        z₀ = Dropout([cls ; X] + pos)                 cls ∈ ℝ^{1×1×C}, pos ∈ ℝ^{1×(T+1)×C}
        z_l = Block_l(z_{l-1}),  l = 1..depth         (pre-norm, see POSTERBlock)
        z   = LN(z_depth)                             (eps 1e-6)
        cls_feat   = SE(z[:, 0])                      N×C
        tokens_out = z[:, 1:]                         N×T×C

    Initialisation (at construction, as the official code): Linear trunc-normal std 0.01 with
    zero bias; LayerNorm 1/0; cls token and position embedding trunc-normal std 0.02.
    One block of width 768 has 7,087,872 parameters; depth 2 with T = 147 has 15,472,896
    (15,478,279 with a 7-way head).

    Args:
        num_tokens (int): T (147 = 3 levels × 7×7).
        embed_dim (int): C.
        depth (int): number of blocks (2 for VIT_base, 1 for VIT_cross).
        num_heads (int): attention heads.
        mlp_ratio (float): MLP hidden width / C.
        drop_ratio (float): dropout after the position embedding and inside the MLP.
        proj_drop_ratio (float): dropout after the attention output projection (0 in the 7-class
            official file, ``drop_ratio`` in the 8-class one).
    """

    def __init__(self, num_tokens: int = 147, embed_dim: int = 768, depth: int = 2,
                 num_heads: int = 8, mlp_ratio: float = 4., drop_ratio: float = 0.,
                 proj_drop_ratio: float = 0., init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if embed_dim % num_heads:
            raise ValueError(f'POSTERViT: embed_dim {embed_dim} is not divisible by num_heads '
                             f'{num_heads}')
        self.num_tokens = num_tokens
        self.embed_dim = embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens + 1, embed_dim))
        self.pos_drop = nn.Dropout(drop_ratio)
        self.blocks = nn.Sequential(*[
            POSTERBlock(embed_dim, num_heads, mlp_ratio, drop_ratio, proj_drop_ratio)
            for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.se = SEGate(embed_dim)
        self._init_vit_weights()

    def _init_vit_weights(self):
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """N×T×C → (cls_feat N×C after the SE gate, tokens_out N×T×C after the final norm)."""
        if tokens.dim() != 3 or tokens.shape[1:] != (self.num_tokens, self.embed_dim):
            raise ValueError(f'POSTERViT expects N×{self.num_tokens}×{self.embed_dim} tokens, '
                             f'got {tuple(tokens.shape)}')
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        x = self.pos_drop(torch.cat([cls, tokens], dim=1) + self.pos_embed)
        x = self.norm(self.blocks(x))
        return self.se(x[:, 0]), x[:, 1:]


@MODELS.register_module()
class POSTERBase(BaseModule):
    """Multi-scale token embedding + :class:`POSTERViT` (POSTER++ without landmarks).

    Input: IR-50's three maps x1 N×64×56×56, x2 N×128×28×28, x3 N×256×14×14 (at 112 input)::

        r_l = reduce_l(x_l)            Conv3×3 s2 p1 (C_l→C_l, bias)         → 28², 14², 7²
        e_1 = embed1(r_1)              Conv3×3 s2 (C_1→D) → Conv3×3 s2 (D→D)  → D×7×7
        e_2 = embed2(r_2)              Conv3×3 s2 (C_2→D)                     → D×7×7
        e_3 = embed3(r_3)              Conv1×1 (C_3→D)                        → D×7×7
        T   = [flat(e_1) | flat(e_2) | flat(e_3)]   row-major, level order    → N×147×D
        feat, tokens = vit(T)

    No norms or activations between the convs (official). These convs keep PyTorch's default
    initialisation; the ViT initialises itself (see :class:`POSTERViT`). With the defaults
    reduce1–3 + embed1–3 hold 7,609,792 parameters.

    Returns ``dict(feat=N×D cls feature after the SE gate, tokens=N×147×D after the final norm)``;
    ``token_shape`` = (T, D) declares the ``tokens`` shape to training stages that consume them
    (e.g. :class:`~mmfer.models.necks.QCSCrossStage`).
    The head (``FERClsHead(num_classes, in_channels=D)``) classifies ``feat``.

    Args:
        in_channels (Sequence[int]): channels of the three input maps.
        embed_dim (int): D.
        vit (dict): keyword arguments of :class:`POSTERViT` other than ``num_tokens`` and
            ``embed_dim`` (``depth``, ``num_heads``, ``mlp_ratio``, ``drop_ratio``,
            ``proj_drop_ratio``).
        num_tokens (int): tokens after concatenation; 147 for 7×7 maps per level (a 224 input
            resized to 112, or a 112 input). Other input sizes need a matching value.
    """

    def __init__(self, in_channels: Sequence[int] = (64, 128, 256), embed_dim: int = 768,
                 vit: dict = dict(depth=2, num_heads=8, mlp_ratio=4., drop_ratio=0.),
                 num_tokens: int = 147, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 3:
            raise ValueError(f'POSTERBase needs three input levels, got in_channels={in_channels}')
        c1, c2, c3 = in_channels
        self.in_channels = tuple(in_channels)
        self.embed_dim = embed_dim
        self.token_shape = (num_tokens, embed_dim)
        self.reduce1 = nn.Conv2d(c1, c1, 3, 2, 1)
        self.reduce2 = nn.Conv2d(c2, c2, 3, 2, 1)
        self.reduce3 = nn.Conv2d(c3, c3, 3, 2, 1)
        self.embed1 = nn.Sequential(
            nn.Conv2d(c1, embed_dim, 3, 2, 1), nn.Conv2d(embed_dim, embed_dim, 3, 2, 1))
        self.embed2 = nn.Sequential(nn.Conv2d(c2, embed_dim, 3, 2, 1))
        self.embed3 = nn.Sequential(nn.Conv2d(c3, embed_dim, 1))
        vit = dict(vit)
        for k in ('num_tokens', 'embed_dim'):
            if k in vit:
                raise ValueError(f'POSTERBase: set {k} on POSTERBase, not inside vit=')
        self.vit = POSTERViT(num_tokens=num_tokens, embed_dim=embed_dim, **vit)

    def embed(self, backbone_feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """The pre-ViT tokens: three maps → N×147×D (levels concatenated in order 1, 2, 3)."""
        if len(backbone_feats) != 3:
            raise ValueError(f'POSTERBase expects 3 backbone maps (IResNet out_indices=(0, 1, 2)),'
                             f' got {len(backbone_feats)}')
        x1, x2, x3 = backbone_feats
        levels = (self.embed1(self.reduce1(x1)), self.embed2(self.reduce2(x2)),
                  self.embed3(self.reduce3(x3)))
        # N×D×7×7 → N×49×D, row-major over (h, w)
        return torch.cat([e.flatten(2).transpose(1, 2) for e in levels], dim=1)

    def forward(self, backbone_feats: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        feat, tokens = self.vit(self.embed(backbone_feats))
        return dict(feat=feat, tokens=tokens)
