"""LAN's guidance loss L_map (specs/lan.md §1.2, §3.7; paper Eq. 5-6).

L_map = mean over the batch and the H·W positions of
    −[G·log F_m + (1 − G)·log(1 − F_m)],   F_m = sigmoid(A),
computed as BCE-with-logits on the pre-sigmoid map A (``attn_logits``; same value as BCE on the
probabilities with PyTorch's log clamp except where the clamp bites, and numerically stable).
G (the data-sample field ``guidance_map``, H×W or 1×H×W per sample, values in {0, 1}) is a target:
no gradient flows into it. α = 0.5 of the paper ("the ratio of the two losses is set at 2:1") is
``loss_weight``.
"""
import torch
import torch.nn.functional as F

from mmfer.registry import MODELS
from .base import BaseFERLoss


@MODELS.register_module()
class GuidanceBCELoss(BaseFERLoss):
    """Per-pixel BCE between the LAN map and the guidance map G. Logged as ``loss_map``.

    Args:
        loss_weight (float): α. Default 0.5 (the paper).
        on_probabilities (bool): compute ``F.binary_cross_entropy`` on sigmoid(A) (the paper's
            literal form, log clamped at −100) instead of BCE-with-logits. Default False.
    """

    consumes = ('attn_logits', )
    target_fields = ('guidance_map', )
    default_name = 'loss_map'

    def __init__(self, loss_weight: float = 0.5, on_probabilities: bool = False,
                 loss_name: str = None, **kwargs):
        super().__init__(loss_weight, loss_name, **kwargs)
        self.on_probabilities = bool(on_probabilities)

    def compute(self, attn_logits: torch.Tensor, guidance_map: torch.Tensor) -> torch.Tensor:
        g = guidance_map.detach().to(attn_logits.dtype)
        if g.dim() == attn_logits.dim() - 1:  # N×H×W targets for N×1×H×W maps
            g = g.unsqueeze(1)
        if g.shape != attn_logits.shape:
            raise ValueError(f'GuidanceBCELoss: guidance_map {tuple(guidance_map.shape)} does not '
                             f'match the attention logits {tuple(attn_logits.shape)}; the '
                             'GuidanceMapHook must cluster the same backbone map size the LAN '
                             'neck sees (e.g. 7×7 for ResNet-18 at 224×224)')
        if self.on_probabilities:
            return F.binary_cross_entropy(torch.sigmoid(attn_logits), g)
        return F.binary_cross_entropy_with_logits(attn_logits, g)
