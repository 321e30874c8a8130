"""FlipConsistencyLoss: CAM consistency between an image and its horizontal flip (DacFER / EAC).

Spec ``dacfer.md`` §1.2–1.3. With M the CAMs of view 0 (the image) and M′ those of view 1 (its
horizontal flip), both N×K×H×W, and Flip the reversal of the last (width) axis:

- ``mode='mse'`` (default; EAC's official code):
  L_c = (1 / (N·K·H·W)) Σ_{n,k,i,j} (M − Flip(M′))²_{n,k,i,j};
- ``mode='l2_norm'`` (the literal paper Eq. 4):
  L_c = (1 / (N·K·H·W)) Σ_{n,k} ‖M_{nk} − Flip(M′)_{nk}‖₂, the non-squared Frobenius norm of
  each H×W difference map.

The total is L = L_s + λ·L_c with λ = ``loss_weight`` = 1 (DacFER; EAC uses 5 with ``mse``).
EAC flips the 7×7 map with a fixed ``grid_sample`` grid (bilinear, border, align_corners=True)
whose points fall on the pixel centres: exactly column j → W−1−j, so the flip here is
``torch.flip(·, dims=(-1, ))`` (same values, same gradient). Gradients reach both views.
"""
from typing import List

import torch

from mmfer.models.losses.base import BaseFERLoss
from mmfer.registry import MODELS

MODES = ('mse', 'l2_norm')


def flip_cam(cam: torch.Tensor) -> torch.Tensor:
    """Horizontal flip of maps …×H×W: column j → column W−1−j."""
    return torch.flip(cam, dims=(-1, ))


@MODELS.register_module()
class FlipConsistencyLoss(BaseFERLoss):
    """L_c between the CAMs of views (0, 1) of a flip pair (logged as ``loss_flip``).

    Args:
        mode (str): ``'mse'`` (default) or ``'l2_norm'`` (see the module docstring).
        loss_weight (float): λ. Default 1.0 (DacFER Eq. 5).
        views (sequence[int]): the (original, flipped) views. Default ``(0, 1)``.
        loss_name (str): default ``'loss_flip'``.
    """

    consumes = ('cam', )
    target_fields = ()
    multi_view = True
    default_name = 'loss_flip'

    def __init__(self, mode: str = 'mse', loss_weight: float = 1.0, loss_name: str = None,
                 views=(0, 1), **kwargs):
        if mode not in MODES:
            raise ValueError(f'FlipConsistencyLoss: mode={mode!r} is not one of {list(MODES)} '
                             "('mse': EAC's code; 'l2_norm': the literal Eq. 4)")
        if views is None or len(views) != 2:
            raise ValueError(f'FlipConsistencyLoss compares two views (original, flipped); got '
                             f'views={views!r}; use views=(0, 1)')
        super().__init__(loss_weight, loss_name, views=views, **kwargs)
        self.mode = mode

    def compute(self, cams: List[torch.Tensor]) -> torch.Tensor:
        cam, cam_flipped_view = cams
        if cam.shape != cam_flipped_view.shape or cam.dim() < 2:
            raise ValueError(f'FlipConsistencyLoss: the two views\' CAMs must have one shape '
                             f'…×H×W, got {tuple(cam.shape)} and '
                             f'{tuple(cam_flipped_view.shape)}')
        diff = cam - flip_cam(cam_flipped_view)
        if self.mode == 'mse':
            return diff.pow(2).mean()
        return torch.linalg.vector_norm(diff, dim=(-2, -1)).sum() / diff.numel()
