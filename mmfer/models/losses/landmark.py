"""Landmark regression loss."""
import torch

from mmfer.registry import MODELS
from .base import BaseFERLoss

MODES = ('l1', 'l2', 'smooth_l1')


@MODELS.register_module()
class LandmarkLoss(BaseFERLoss):
    """Distance between predicted and true landmarks, in units of the input size.

    With P (N×L×2, normalised, from :class:`~mmfer.models.heads.LandmarkHead`), the data-sample
    field ``landmarks`` G (N×L×2 pixels) and the input size s = (W, H)::

        d = P − G / s
        'l1'        L = mean |d|              (default)
        'l2'        L = mean_{n,l} ‖d_nl‖₂
        'smooth_l1' L = mean smoothL1(d; β = 0.01)

    Logged as ``loss_landmark``.
    """

    consumes = ('landmarks_pred', 'landmark_scale')
    target_fields = ('landmarks', )
    default_name = 'loss_landmark'

    def __init__(self, mode: str = 'l1', loss_weight: float = 1.0, loss_name: str = None,
                 **kwargs):
        super().__init__(loss_weight, loss_name, **kwargs)
        if mode not in MODES:
            raise ValueError(f'LandmarkLoss: mode={mode!r} is not one of {list(MODES)}')
        self.mode = mode

    def compute(self, pred, scale, landmarks):
        if landmarks.shape != pred.shape:
            raise ValueError(f'LandmarkLoss: the batch landmarks {tuple(landmarks.shape)} do not '
                             f'match the prediction {tuple(pred.shape)}; set '
                             'LandmarkHead.num_landmarks to the dataset\'s landmark count')
        d = pred - landmarks.to(pred.dtype) / scale
        if self.mode == 'l1':
            return d.abs().mean()
        if self.mode == 'l2':
            return d.norm(dim=-1).mean()
        return torch.nn.functional.smooth_l1_loss(d, torch.zeros_like(d), beta=0.01)
