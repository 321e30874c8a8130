"""The loss protocol of mmfer.

A loss is a registered ``nn.Module`` that declares which *named tensors* it consumes.  The
classifier collects everything the forward produced into one dict ``outputs``:

- ``logits``          N×C, the head's output;
- ``feat``            the vector the head classified (neck output);
- ``backbone_feats``  tuple of the backbone's outputs; ``backbone_map`` its last one;
- whatever else the neck returned (``head_feats``, ``attn_maps``, ``cam`` ...).

``BaseFERLoss.forward(outputs, target)`` looks up ``self.consumes`` in ``outputs`` and returns
``loss_weight * compute(*tensors, target=target)``.  The head logs it under ``loss_name``.
A loss may own parameters (e.g. the affinity centers of DAN): it is then a sub-module of the
head, so the optimizer built from the model's parameters trains it.
"""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmfer.registry import MODELS


class BaseFERLoss(nn.Module):
    """Base class: subclasses set ``consumes`` and ``default_name`` and implement ``compute``.

    Args:
        loss_weight (float): factor applied to the value of ``compute``.
        loss_name (str, optional): key under which the loss is logged; must start with
            ``loss`` so that mmengine sums it into the total loss.
    """

    consumes: Tuple[str, ...] = ('logits', )
    default_name: str = 'loss'

    def __init__(self, loss_weight: float = 1.0, loss_name: str = None):
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.loss_name = loss_name or self.default_name
        if not self.loss_name.startswith('loss'):
            raise ValueError(f'{type(self).__name__}: loss_name must start with "loss" '
                             f'(mmengine only sums keys that do), got {self.loss_name!r}')

    def compute(self, *tensors: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, outputs: Dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        missing = [k for k in self.consumes if k not in outputs]
        if missing:
            raise KeyError(
                f'{type(self).__name__} consumes {list(self.consumes)} but the model produced '
                f'{sorted(outputs)}; missing {missing}. Use a neck that returns these tensors.')
        return self.loss_weight * self.compute(*[outputs[k] for k in self.consumes], target=target)


@MODELS.register_module()
class FERCrossEntropyLoss(BaseFERLoss):
    """Cross-entropy on ``logits``: ``mean_n −log softmax(z_n)[y_n]`` (optionally label-smoothed,
    optionally class-weighted).  Logged as ``loss_ce``."""

    consumes = ('logits', )
    default_name = 'loss_ce'

    def __init__(self, loss_weight: float = 1.0, label_smoothing: float = 0.0,
                 class_weight: Sequence[float] = None, loss_name: str = None):
        super().__init__(loss_weight, loss_name)
        self.label_smoothing = float(label_smoothing)
        if class_weight is not None:
            self.register_buffer('class_weight', torch.tensor(class_weight, dtype=torch.float))
        else:
            self.class_weight = None

    def compute(self, logits, target):
        return F.cross_entropy(logits, target, weight=self.class_weight,
                               label_smoothing=self.label_smoothing)
