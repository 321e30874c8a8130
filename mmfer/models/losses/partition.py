"""DAN's partition loss (Attention Fusion Network), specs/dan.md §2.2 and §8 row 1."""
import sys

import torch

from mmfer.registry import MODELS
from .base import BaseFERLoss

# the ε of the official code (Python's float epsilon)
EPS = sys.float_info.epsilon


@MODELS.register_module()
class PartitionLoss(BaseFERLoss):
    """Push the attention heads apart by raising their across-head variance.

    Consumes ``head_feats`` L ∈ ℝ^{N×H×D} (the log-softmaxed head outputs of
    :class:`MultiHeadCrossAttention`).  With σ²_{n,c} = Var_h(L_{n,h,c}) (unbiased, divisor H−1):

    - ``mode='official'`` (default, official code):
      L_pt = log(1 + H / (mean_{n,c} σ²_{n,c} + ε));
    - ``mode='paper'`` (Eq. 6, with the same ε inside each term):
      L_pt = mean_{n,c} log(1 + H / (σ²_{n,c} + ε)).

    With H = 1 the loss is exactly 0 (a zero that stays attached to the graph).
    ε = 2.220446049250313e−16.

    Args:
        mode (str): ``'official'`` or ``'paper'``.
        loss_weight (float): λ_pt. Default 1.
        loss_name (str): log key. Default ``loss_partition``.
    """

    consumes = ('head_feats', )
    target_fields = ()
    default_name = 'loss_partition'

    def __init__(self, mode: str = 'official', loss_weight: float = 1.0,
                 loss_name: str = None, **kwargs):
        super().__init__(loss_weight, loss_name, **kwargs)
        if mode not in ('official', 'paper'):
            raise ValueError(f"PartitionLoss: mode must be 'official' or 'paper', got {mode!r}")
        self.mode = mode

    def compute(self, head_feats: torch.Tensor, target: torch.Tensor = None) -> torch.Tensor:
        if head_feats.dim() != 3:
            raise ValueError(f'PartitionLoss expects N×H×D head features, got '
                             f'{tuple(head_feats.shape)}; use a neck that returns head_feats')
        num_heads = head_feats.size(1)
        if num_heads == 1:
            return head_feats.sum() * 0.0
        var = head_feats.var(dim=1, unbiased=True)
        if self.mode == 'official':
            return torch.log1p(num_heads / (var.mean() + EPS))
        return torch.log1p(num_heads / (var + EPS)).mean()

    def extra_repr(self) -> str:
        return f'mode={self.mode!r}, loss_weight={self.loss_weight}'
