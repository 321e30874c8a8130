"""Product-cross dual attention of PCDA (Nie et al., CVM 2024; spec ``pcda.md`` §3–4, Eq. 1–5).

Inputs: the image backbone's map f_img ∈ ℝ^{N×C_img×h×w} (IR-50 stage 3, 256×14×14 at 112 input)
and the frozen landmark network's map f_lm ∈ ℝ^{N×C_lm×h×w} (MobileFaceNet ``conv_4``,
128×14×14), read from the classifier's auxiliary networks (``aux['landmark']``).

1. Dot-product attention (Eq. 1, Table 4)::

       H = max_c f_lm[c]  (heatmap_mode 'max'; 'sum' Σ_c, 'abs_sum' Σ_c |·|: N×1×h×w,
                           broadcast over C_img = the paper's "repeat"; 'conv': a learnable
                           conv C_lm → C_img, N×C_img×h×w; 'none': H = 1, no product)
       H' = norm(H)       (heatmap_norm, default none)
       f_fusion = H' ⊙ f_img

2. Tokens (Eq. 2): t = [cls ; flatten(Embedding(f))] + pos for both streams (1×1 conv
   embeddings, T = h·w + 1 tokens of width D = 768, class token at index 0).

3. ``depth`` cross blocks (Eq. 3–5): landmark queries, fusion keys and values, residual on the
   fusion stream (position i of the attention output belongs to landmark query i and is added to
   fusion token i)::

       a      = Softmax(Q_lm K_fᵀ / √d) V_f  → proj
       t_f'   = t_f + a
       t_f    = t_f' + MLP(LN(t_f'))            (eq5_literal: MLP(LN(t_f') + t_f'))

   The landmark tokens are not updated between blocks (``update_landmark=False``); each block
   re-projects the same landmark tokens.

4. Classifier input: LN(t_f)[:, 0] = ``cls_token`` (N×D, what NeAA reads) → SE gate
   h ⊙ σ(W₂ ReLU(W₁ h + b₁) + b₂) → ``feat`` (N×D, what the FC classifies).

``cross_attention=False`` is the ablation without cross attention (paper Table 1 rows without
"C"): the blocks become plain pre-norm self-attention over the fusion tokens (mmfer's choice,
the paper does not say what replaces the module); the landmark tokens are then not built.

Parameters of the default design (D 768, depth 2, 8 heads, MLP ratio 4, 7-way FC in the head):
landmark embedding 99,072; fusion embedding 197,376; per block 7,087,872 × 2; final LayerNorm
1,536; SE gate 1,181,184 → with the FC 15,660,295, plus class tokens (1,536) and position
embedding (151,296). ``qkv_mode='query_only'`` adds one LayerNorm per block (15,663,367).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from mmfer.registry import MODELS

from .poster_base import POSTERMlp, SEGate

HEATMAP_MODES = ('max', 'sum', 'abs_sum', 'conv', 'none')
HEATMAP_NORMS = ('none', 'sigmoid', 'minmax', 'relu', 'spatial_softmax')
QKV_MODES = ('shared', 'query_only', 'separate')
DROP_MODES = ('dropout', 'drop_path', 'head')
POS_EMBED_MODES = ('shared', 'none', 'fusion_only', 'separate')


def _check(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f'ProductCrossAttention: {name}={value!r} is not one of {list(allowed)}')


def landmark_heatmap(f_lm: torch.Tensor, mode: str = 'max') -> torch.Tensor:
    """Channel reduction of Eq. 1: N×C×h×w → N×1×h×w (``max``: max_c, ``sum``: Σ_c,
    ``abs_sum``: Σ_c |·|). The paper repeats it C_img times; broadcasting does the same."""
    if mode == 'max':
        return f_lm.amax(dim=1, keepdim=True)
    if mode == 'sum':
        return f_lm.sum(dim=1, keepdim=True)
    if mode == 'abs_sum':
        return f_lm.abs().sum(dim=1, keepdim=True)
    raise ValueError(f"landmark_heatmap: mode {mode!r} is not 'max', 'sum' or 'abs_sum'")


def normalize_heatmap(h: torch.Tensor, norm: str = 'none') -> torch.Tensor:
    """Heatmap normalisation (pcda.md §3, choice 1), per sample and channel of N×C×h×w:
    ``none``; ``sigmoid``; ``relu``; ``minmax`` (to [0, 1] over the h·w positions, a constant map
    becomes 0); ``spatial_softmax`` (softmax over the h·w positions, times h·w, so a constant map
    becomes 1)."""
    if norm == 'none':
        return h
    if norm == 'sigmoid':
        return torch.sigmoid(h)
    if norm == 'relu':
        return F.relu(h)
    flat = h.flatten(2)
    if norm == 'minmax':
        lo = flat.amin(dim=2, keepdim=True)
        hi = flat.amax(dim=2, keepdim=True)
        return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(h)
    if norm == 'spatial_softmax':
        return (flat.softmax(dim=2) * flat.shape[2]).view_as(h)
    raise ValueError(f'normalize_heatmap: norm {norm!r} is not one of {list(HEATMAP_NORMS)}')


class DropPath(nn.Module):
    """Stochastic depth: zero a sample's residual branch with probability p (scaled 1/(1-p))."""

    def __init__(self, p: float = 0.):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0. or not self.training:
            return x
        keep = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class CrossAttention(nn.Module):
    """Softmax(Q Kᵀ/√d) V with Q from one token stream and K, V from another (Eq. 4).

    ``qkv_mode``:

    - ``shared``: one Linear(D → 3D) applied to both streams (Fig. 3 literally: query, key and
      value embeddings for both); Q from the query stream, K, V from the key/value stream; the
      other three projections are computed and discarded (3.66 GMACs for the default module);
    - ``query_only``: ``q`` Linear(D → D) on the query stream, ``kv`` Linear(D → 2D) on the
      key/value stream; nothing unused is computed;
    - ``separate``: Eq. 3 with distinct weights: ``qkv`` Linear(D → 3D) on the key/value stream
      and ``q_lm`` Linear(D → D) on the query stream.

    With ``x_q is x_kv`` (self-attention) the ``shared`` projection runs once.
    Output projection ``proj`` Linear(D → D), then dropout ``proj_drop``.
    """

    def __init__(self, dim: int, num_heads: int, qkv_mode: str = 'shared',
                 proj_drop: float = 0.):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'ProductCrossAttention: embed_dim {dim} is not divisible by '
                             f'num_heads {num_heads}')
        self.dim, self.num_heads, self.qkv_mode = dim, num_heads, qkv_mode
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        if qkv_mode == 'shared':
            self.qkv = nn.Linear(dim, 3 * dim)
        elif qkv_mode == 'query_only':
            self.q = nn.Linear(dim, dim)
            self.kv = nn.Linear(dim, 2 * dim)
        else:
            self.qkv = nn.Linear(dim, 3 * dim)
            self.q_lm = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        return x.reshape(n, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x_q: torch.Tensor, x_kv: torch.Tensor) -> torch.Tensor:
        """x_q N×T×D (queries), x_kv N×S×D (keys, values) → N×T×D."""
        d = self.dim
        if self.qkv_mode == 'shared':
            kv_all = self.qkv(x_kv)
            q_all = kv_all if x_q is x_kv else self.qkv(x_q)
            q, k, v = q_all[..., :d], kv_all[..., d:2 * d], kv_all[..., 2 * d:]
        elif self.qkv_mode == 'query_only':
            q = self.q(x_q)
            k, v = self.kv(x_kv).split(d, dim=-1)
        else:
            _, k, v = self.qkv(x_kv).split(d, dim=-1)
            q = self.q_lm(x_q)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        out = attn.softmax(dim=-1) @ v
        out = out.transpose(1, 2).reshape(x_q.shape[0], x_q.shape[1], d)
        return self.proj_drop(self.proj(out))


class ProductCrossBlock(nn.Module):
    """One block of Eq. 3–5 (see the module docstring), or a self-attention block.

    Args:
        dim, num_heads, mlp_ratio: width D, heads, MLP hidden = D·mlp_ratio.
        qkv_mode: see :class:`CrossAttention`.
        cross (bool): landmark queries on fusion keys/values (True) or self-attention over the
            fusion stream (False; the ablation without cross attention).
        prenorm_attn (bool): ``norm1`` (LayerNorm eps 1e-6, applied to both streams) before
            the projections; ``query_only`` normalises the key/value stream with its own
            ``norm1_kv``. False: Eq. 5 as printed, no norm before the attention.
        eq5_literal (bool): t_out = MLP(LN(t′) + t′) instead of t′ + MLP(LN(t′)).
        update_landmark (bool): also update the landmark stream with the mirrored block
            (fusion queries on landmark keys/values, its own ``attn_lm``, ``norm2_lm``,
            ``mlp_lm``).
        drop (float): dropout inside the MLP and after the attention projection.
        drop_path (float): stochastic-depth rate of this block's residual branches.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.,
                 qkv_mode: str = 'shared', cross: bool = True, prenorm_attn: bool = True,
                 eq5_literal: bool = False, update_landmark: bool = False, drop: float = 0.,
                 drop_path: float = 0.):
        super().__init__()
        self.cross = cross
        self.prenorm_attn = prenorm_attn
        self.eq5_literal = eq5_literal
        self.update_landmark = update_landmark and cross
        hidden = int(dim * mlp_ratio)
        if prenorm_attn:
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            if cross and qkv_mode == 'query_only':
                self.norm1_kv = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CrossAttention(dim, num_heads, qkv_mode if cross else 'shared', drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = POSTERMlp(dim, hidden, drop)
        self.drop_path = DropPath(drop_path)
        if self.update_landmark:
            self.attn_lm = CrossAttention(dim, num_heads, qkv_mode, drop)
            self.norm2_lm = nn.LayerNorm(dim, eps=1e-6)
            self.mlp_lm = POSTERMlp(dim, hidden, drop)

    def _ffn(self, t: torch.Tensor, norm: nn.Module, mlp: nn.Module) -> torch.Tensor:
        if self.eq5_literal:
            return mlp(norm(t) + t)
        return t + self.drop_path(mlp(norm(t)))

    def forward(self, t_f: torch.Tensor, t_lm: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(fusion tokens N×T×D, landmark tokens N×T×D or None) → the updated pair."""
        if not self.cross:
            x = self.norm1(t_f) if self.prenorm_attn else t_f
            t_f = t_f + self.drop_path(self.attn(x, x))
            return self._ffn(t_f, self.norm2, self.mlp), t_lm
        if self.prenorm_attn:
            lm_n = self.norm1(t_lm)
            f_n = self.norm1_kv(t_f) if hasattr(self, 'norm1_kv') else self.norm1(t_f)
        else:
            lm_n, f_n = t_lm, t_f
        t_f1 = t_f + self.drop_path(self.attn(lm_n, f_n))
        out_f = self._ffn(t_f1, self.norm2, self.mlp)
        if self.update_landmark:
            t_lm1 = t_lm + self.drop_path(self.attn_lm(f_n, lm_n))
            t_lm = self._ffn(t_lm1, self.norm2_lm, self.mlp_lm)
        return out_f, t_lm


@MODELS.register_module()
class ProductCrossAttention(BaseModule):
    """PCDA's product-cross dual attention neck (``uses_aux``: reads the landmark network).

    Called by ``FERClassifier`` as ``neck(backbone_feats, aux={name: outputs})``; returns
    ``dict(feat=N×D (SE-gated class token, the FC input), cls_token=N×D (class token after the
    final LayerNorm, before the SE gate: what NeAA reads), heatmap=N×1×h×w or N×C_img×h×w
    (after normalisation; N×1×h×w of ones for heatmap_mode='none'), tokens=N×(h·w)×D (fusion
    tokens after the final LayerNorm))``.

    Args (defaults = pcda.md §8; the paper passage each comes from is in docs/pcda.md):
        img_channels (int): C_img of f_img (256).
        lm_channels (int): C_lm of f_lm (128).
        embed_dim (int): token width c_t = D (768).
        num_patches (int): h·w (196 at 112 input; 64 for a 64-px input).
        depth (int): blocks (2).
        num_heads (int): heads (8, not stated — POSTER++'s value).
        mlp_ratio (float): 4.
        heatmap_mode (str): ``'max'`` (default, Table 4 best), ``'sum'``, ``'abs_sum'``,
            ``'conv'`` (learnable conv C_lm → C_img), ``'none'`` (no product: f_fusion = f_img,
            the Table 1 rows without "D").
        heatmap_kernel (int): kernel of the ``conv`` generator (1; padding k // 2, with bias).
        heatmap_norm (str): ``'none'`` (default), ``'sigmoid'``, ``'minmax'``, ``'relu'``,
            ``'spatial_softmax'`` (:func:`normalize_heatmap`).
        cross_attention (bool): True (default) landmark-query cross attention; False plain
            self-attention over the fusion tokens (Table 1 rows without "C").
        qkv_mode (str): ``'shared'`` (default), ``'query_only'``, ``'separate'``
            (:class:`CrossAttention`).
        update_landmark (bool): mirrored update of the landmark stream (default False).
        prenorm_attn (bool): LayerNorm before the projections (default True).
        eq5_literal (bool): MLP(LN(t′) + t′) without residual (default False).
        drop_mode (str): what ``drop_ratio`` means: ``'dropout'`` (default) after the position
            embedding, after the attention projection, after the MLP's GELU and second linear;
            ``'drop_path'`` stochastic depth rising linearly 0 → drop_ratio over the blocks;
            ``'head'`` dropout on ``feat`` only (the FC input; same as
            ``FERClsHead(dropout=drop_ratio)``).
        drop_ratio (float): 0.5 (paper 4.2).
        se_gate (bool): SE gate on the class token (default True); False: feat = cls_token.
        pos_embed (str): ``'shared'`` (default: one learnable (T+1)×D embedding added to both
            streams), ``'none'``, ``'fusion_only'``, ``'separate'`` (one per stream).
        landmark_key (str): the auxiliary network whose output is f_lm (``'landmark'``).
        landmark_index (int): which entry of that network's output tuple (0).
        img_index (int): which backbone output is f_img (-1: the last).

    Initialisation (as POSTER++'s ViT): Linear trunc-normal std 0.01 with zero bias; LayerNorm
    1/0; class tokens and position embeddings trunc-normal std 0.02; the 1×1 embedding convs
    and the heatmap conv keep PyTorch's default.
    """

    uses_aux = True

    def __init__(self, img_channels: int = 256, lm_channels: int = 128, embed_dim: int = 768,
                 num_patches: int = 196, depth: int = 2, num_heads: int = 8,
                 mlp_ratio: float = 4., heatmap_mode: str = 'max', heatmap_kernel: int = 1,
                 heatmap_norm: str = 'none', cross_attention: bool = True,
                 qkv_mode: str = 'shared', update_landmark: bool = False,
                 prenorm_attn: bool = True, eq5_literal: bool = False,
                 drop_mode: str = 'dropout', drop_ratio: float = 0.5, se_gate: bool = True,
                 pos_embed: str = 'shared', landmark_key: str = 'landmark',
                 landmark_index: int = 0, img_index: int = -1, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        _check('heatmap_mode', heatmap_mode, HEATMAP_MODES)
        _check('heatmap_norm', heatmap_norm, HEATMAP_NORMS)
        _check('qkv_mode', qkv_mode, QKV_MODES)
        _check('drop_mode', drop_mode, DROP_MODES)
        _check('pos_embed', pos_embed, POS_EMBED_MODES)
        if update_landmark and not cross_attention:
            raise ValueError('ProductCrossAttention: update_landmark=True needs '
                             'cross_attention=True (without it there is no landmark stream)')
        if not 0. <= drop_ratio < 1.:
            raise ValueError(f'ProductCrossAttention: drop_ratio must be in [0, 1), got '
                             f'{drop_ratio}')
        self.img_channels, self.lm_channels = img_channels, lm_channels
        self.embed_dim, self.num_patches, self.depth = embed_dim, num_patches, depth
        self.heatmap_mode, self.heatmap_norm = heatmap_mode, heatmap_norm
        self.cross_attention = cross_attention
        self.qkv_mode = qkv_mode
        self.drop_mode, self.drop_ratio = drop_mode, drop_ratio
        self.pos_embed_mode = pos_embed
        self.landmark_key, self.landmark_index, self.img_index = (landmark_key, landmark_index,
                                                                  img_index)
        if heatmap_mode == 'conv':
            self.heatmap_conv = nn.Conv2d(lm_channels, img_channels, heatmap_kernel, 1,
                                          heatmap_kernel // 2)
        num_tokens = num_patches + 1
        if cross_attention:
            self.lm_embed = nn.Conv2d(lm_channels, embed_dim, 1)
            self.lm_cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.fusion_embed = nn.Conv2d(img_channels, embed_dim, 1)
        self.fusion_cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        if pos_embed in ('shared', 'fusion_only', 'separate'):
            self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        if pos_embed == 'separate' and cross_attention:
            self.lm_pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        drop = drop_ratio if drop_mode == 'dropout' else 0.
        self.pos_drop = nn.Dropout(drop)
        dpr = ([drop_ratio * i / max(depth - 1, 1) for i in range(depth)]
               if drop_mode == 'drop_path' else [0.] * depth)
        self.blocks = nn.ModuleList([
            ProductCrossBlock(embed_dim, num_heads, mlp_ratio, qkv_mode, cross_attention,
                              prenorm_attn, eq5_literal, update_landmark, drop, dpr[i])
            for i in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.se = SEGate(embed_dim) if se_gate else nn.Identity()
        self.head_drop = nn.Dropout(drop_ratio if drop_mode == 'head' else 0.)
        self._init_pcda_weights()

    @property
    def needs_landmarks(self) -> bool:
        """False only for the ablation with neither product nor cross attention."""
        return self.cross_attention or self.heatmap_mode != 'none'

    def _init_pcda_weights(self):
        for name in ('pos_embed', 'lm_pos_embed', 'lm_cls_token', 'fusion_cls_token'):
            if hasattr(self, name):
                trunc_normal_(getattr(self, name), std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if isinstance(self.se, SEGate):
            for m in (self.se.fc1, self.se.fc2):
                trunc_normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------------------------------
    def heatmap(self, f_lm: Optional[torch.Tensor], f_img: torch.Tensor) -> torch.Tensor:
        """H′ of Eq. 1 (after ``heatmap_norm``), N×1×h×w or N×C_img×h×w."""
        if self.heatmap_mode == 'none':
            return f_img.new_ones(f_img.shape[0], 1, *f_img.shape[2:])
        if self.heatmap_mode == 'conv':
            h = self.heatmap_conv(f_lm)
        else:
            h = landmark_heatmap(f_lm, self.heatmap_mode)
        return normalize_heatmap(h, self.heatmap_norm)

    def _tokens(self, f: torch.Tensor, embed: nn.Module, cls: torch.Tensor,
                pos: Optional[torch.Tensor]) -> torch.Tensor:
        t = embed(f).flatten(2).transpose(1, 2)  # N×D×h×w → N×hw×D, row-major
        if t.shape[1] != self.num_patches:
            raise ValueError(f'ProductCrossAttention: {t.shape[1]} positions ({tuple(f.shape[2:])}'
                             f' map) but num_patches={self.num_patches}; set num_patches = h·w '
                             '(196 for 112×112 input)')
        t = torch.cat([cls.expand(t.shape[0], -1, -1), t], dim=1)
        if pos is not None:
            t = t + pos
        return self.pos_drop(t)

    def _landmark_map(self, aux: Optional[dict]) -> Optional[torch.Tensor]:
        if not self.needs_landmarks:
            return None
        if not aux or self.landmark_key not in aux:
            raise KeyError(
                f'ProductCrossAttention needs the output of the auxiliary network '
                f'{self.landmark_key!r}, got {sorted(aux or {})}. Declare it in the model: '
                f"aux_nets=dict({self.landmark_key}=dict(type='MobileFaceNet', "
                "out_names=('conv_4',), frozen=True, pretrained=...)), or set landmark_key")
        out = aux[self.landmark_key]
        out = out if isinstance(out, (tuple, list)) else (out, )
        f_lm = out[self.landmark_index]
        if f_lm.dim() != 4 or f_lm.shape[1] != self.lm_channels:
            raise ValueError(f'ProductCrossAttention: the landmark map must be N×{self.lm_channels}'
                             f'×h×w (lm_channels), got {tuple(f_lm.shape)}')
        return f_lm

    def forward(self, backbone_feats: Sequence[torch.Tensor],
                aux: Optional[Dict[str, Sequence[torch.Tensor]]] = None) -> Dict[str, torch.Tensor]:
        feats = backbone_feats if isinstance(backbone_feats, (tuple, list)) else (backbone_feats, )
        f_img = feats[self.img_index]
        if f_img.dim() != 4 or f_img.shape[1] != self.img_channels:
            raise ValueError(f'ProductCrossAttention: the image map must be N×{self.img_channels}'
                             f'×h×w (img_channels), got {tuple(f_img.shape)}')
        f_lm = self._landmark_map(aux)
        if f_lm is not None and f_lm.shape[2:] != f_img.shape[2:]:
            raise ValueError(f'ProductCrossAttention: landmark map {tuple(f_lm.shape[2:])} and '
                             f'image map {tuple(f_img.shape[2:])} differ in size; tap maps of '
                             'equal resolution (MobileFaceNet conv_4 with IR-50 stage 3)')
        heat = self.heatmap(f_lm, f_img)
        f_fusion = f_img * heat if self.heatmap_mode != 'none' else f_img
        pos = getattr(self, 'pos_embed', None)
        t_f = self._tokens(f_fusion, self.fusion_embed, self.fusion_cls_token, pos)
        t_lm = None
        if self.cross_attention:
            lm_pos = {'shared': pos, 'none': None, 'fusion_only': None,
                      'separate': getattr(self, 'lm_pos_embed', None)}[self.pos_embed_mode]
            t_lm = self._tokens(f_lm, self.lm_embed, self.lm_cls_token, lm_pos)
        for blk in self.blocks:
            t_f, t_lm = blk(t_f, t_lm)
        z = self.norm(t_f)
        cls_token = z[:, 0]
        feat = self.head_drop(self.se(cls_token))
        return dict(feat=feat, cls_token=cls_token, heatmap=heat, tokens=z[:, 1:])
