"""Parameter counting that separates model weights from loss state."""
import re
from typing import Dict

import torch.nn as nn

# a parameter whose path contains a ``losses`` module (e.g. ``head.losses.1.centers``, DAN's
# affinity centers) is loss state: trained, but not part of the model that predicts.
_LOSS_STATE = re.compile(r'(^|\.)losses\.')


def is_loss_state(name: str) -> bool:
    """True for a parameter / buffer name under a ``losses`` sub-module."""
    return bool(_LOSS_STATE.search(name))


def count_parameters(model: nn.Module, exclude_loss_state: bool = True,
                     trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model``.

    Args:
        model: any module.
        exclude_loss_state: skip parameters under a ``losses`` sub-module (the loss list of an
            mmfer head), e.g. DAN's affinity centers (K×512). Default True.
        trainable_only: count only parameters with ``requires_grad``. Default False (frozen
            weights still belong to the model, as papers count them).
    """
    return sum(p.numel() for n, p in model.named_parameters()
               if not (exclude_loss_state and is_loss_state(n))
               and not (trainable_only and not p.requires_grad))


def count_parameters_by_module(model: nn.Module, depth: int = 1,
                               exclude_loss_state: bool = True) -> Dict[str, int]:
    """Parameter counts grouped by the first ``depth`` components of the name.

    E.g. ``depth=1`` on a FERClassifier gives ``{'backbone': ..., 'neck': ..., 'head': ...}``.
    """
    out: Dict[str, int] = {}
    for n, p in model.named_parameters():
        if exclude_loss_state and is_loss_state(n):
            continue
        key = '.'.join(n.split('.')[:depth])
        out[key] = out.get(key, 0) + p.numel()
    return out
