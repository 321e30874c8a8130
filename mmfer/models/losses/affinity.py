"""DAN's affinity loss (Feature Clustering Network), official-code behaviour (specs/dan.md §2.1)."""
import torch
import torch.nn as nn

from mmfer.registry import MODELS
from .base import BaseFERLoss


@MODELS.register_module()
class AffinityLoss(BaseFERLoss):
    """Pull pooled backbone features to their class center, normalised by the centers' spread.

    Consumes ``backbone_map`` F ∈ ℝ^{N×D×h×w} (or already pooled N×D) and the labels y.
    With learnable centers C ∈ ℝ^{K×D} (initialised from N(0, 1)):

    - x_n = GAP(F_n) ∈ ℝ^D;
    - d_{n,k} = ‖x_n‖² + ‖c_k‖² − 2·x_n·c_k, kept only for k = y_n (other entries × 0);
    - σ² = Σ_j Var_k(C_{k,j})  (unbiased variance across the K centers, summed over D);
    - L_af = (1/N) Σ_n Σ_k clamp(mask_{n,k}·d_{n,k}/σ², 1e−12, 1e12)
      (``reduction='sum'`` drops the 1/N: the paper's Eq. 2).

    The clamp of the K−1 masked zeros adds (K−1)·1e−12 per sample, as in the official code.
    Gradients reach the backbone and the centers.  The centers are loss *state*: this module
    is a sub-module of the head so mmengine's optimizer (built from the model's parameters)
    trains them with the same lr / weight decay as the model, as the official code does;
    :func:`mmfer.utils.params.count_parameters` excludes them from the model size.

    Args:
        num_centers (int): K.  The official RAF-DB recipe uses 8 for 7 classes (the unused
            8th center only enters σ²); K must exceed the largest label.
        feat_dim (int): D, channels of the backbone map. Default 512.
        reduction (str): ``'mean'`` (official) or ``'sum'`` (paper Eq. 2).
        loss_weight (float): λ_af. Default 1.
        loss_name (str): log key. Default ``loss_affinity``.
    """

    consumes = ('backbone_map', )
    default_name = 'loss_affinity'

    def __init__(self, num_centers: int, feat_dim: int = 512, reduction: str = 'mean',
                 loss_weight: float = 1.0, loss_name: str = None, **kwargs):
        super().__init__(loss_weight, loss_name, **kwargs)
        if not isinstance(num_centers, int) or num_centers < 2:
            raise ValueError(f'AffinityLoss: num_centers must be an int ≥ 2 (σ² is a variance '
                             f'across centers), got {num_centers!r}')
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"AffinityLoss: reduction must be 'mean' (official code) or 'sum' "
                             f"(paper Eq. 2), got {reduction!r}")
        self.num_centers = num_centers
        self.feat_dim = feat_dim
        self.reduction = reduction
        self.centers = nn.Parameter(torch.randn(num_centers, feat_dim))

    def compute(self, feats: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = feats.mean(dim=(2, 3)) if feats.dim() == 4 else feats
        if x.dim() != 2 or x.size(1) != self.feat_dim:
            raise ValueError(f'AffinityLoss: expected features N×{self.feat_dim}(×h×w), got '
                             f'{tuple(feats.shape)}; set feat_dim to the backbone channels')
        if target.numel() and (int(target.max()) >= self.num_centers or int(target.min()) < 0):
            raise ValueError(f'AffinityLoss: labels must lie in [0, {self.num_centers}); got '
                             f'{target.min().item()}..{target.max().item()} — set num_centers ≥ '
                             f'the number of classes')
        # float32 even under AMP: ‖x‖² over 512 channels can overflow float16
        x, centers = x.float(), self.centers.float()
        # ‖x‖² + ‖c‖² − 2 x·c, the official expansion (not cdist) so values match bit for bit
        dist = (x.pow(2).sum(dim=1, keepdim=True) + centers.pow(2).sum(dim=1).unsqueeze(0)
                - 2.0 * x @ centers.t())
        mask = torch.zeros_like(dist)
        mask.scatter_(1, target.view(-1, 1).long(), 1.0)
        var = centers.var(dim=0, unbiased=True).sum()
        loss = (dist * mask / var).clamp(min=1e-12, max=1e12).sum()
        if self.reduction == 'mean':
            loss = loss / x.size(0)
        return loss

    def extra_repr(self) -> str:
        return (f'num_centers={self.num_centers}, feat_dim={self.feat_dim}, '
                f'reduction={self.reduction!r}, loss_weight={self.loss_weight}')
