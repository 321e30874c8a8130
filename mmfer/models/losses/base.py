"""The loss protocol of mmfer: named tensors in, declared targets, declared views.

A loss is a registered ``nn.Module`` that declares

- ``consumes``: the *named tensors* it reads from the model's outputs dict — ``logits`` (the
  head's output), ``feat`` (what the head classified), ``backbone_feats`` / ``backbone_map``,
  whatever the neck returned (``head_feats``, ``attn_maps``, ``cls_token``, ``cam`` ...) and the
  outputs of auxiliary networks (``aux.<name>``);
- ``target_fields``: the *data-sample fields* it reads (``gt_label``, ``neg_label``,
  ``clean_label``, ``guidance_map``, ``landmarks`` ...), gathered into tensors once per batch by
  :func:`mmfer.models.targets.gather_targets`; ``optional_target_fields`` are used when the batch
  carries them (``gt_score``, the soft targets of mmpretrain's Mixup / CutMix);
- ``views`` (config): on which views of a multi-view batch it applies (``None``: all of them)
  and ``view_reduction`` (``'mean'`` / ``'sum'``) over those views. A loss with
  ``multi_view = True`` (e.g. a consistency loss between two views) is called once with the
  outputs of all its views instead.

``BaseFERLoss.forward(outputs, targets)`` returns ``loss_weight * compute(*tensors, **targets)``,
where ``gt_label`` is passed as ``target`` and any other field under its own name. The head (or
classifier) logs it under ``loss_name``. A loss may own parameters (e.g. DAN's affinity centers):
it is then a sub-module of its head, so the optimizer trains it.

Soft targets: a batch whose samples carry ``gt_score`` is trained on those scores by the losses
that accept them (``FERCrossEntropyLoss``); any other loss that reads ``gt_label`` refuses such a
batch with an error instead of silently training on the hard labels.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmfer.registry import MODELS

VIEW_REDUCTIONS = ('mean', 'sum')


class BaseFERLoss(nn.Module):
    """Base class: subclasses set ``consumes``, ``target_fields`` and ``default_name`` and
    implement ``compute``.

    Args:
        loss_weight (float): factor applied to the value of ``compute``.
        loss_name (str, optional): key under which the loss is logged; must start with
            ``loss`` so that mmengine sums it into the total loss.
        views (sequence[int], optional): the views of a multi-view batch this loss applies to
            (e.g. ``(0, )``: the original image only). ``None`` (default): every view.
        view_reduction (str): how per-view values combine: ``'mean'`` (default) or ``'sum'``.
    """

    consumes: Tuple[str, ...] = ('logits', )
    target_fields: Tuple[str, ...] = ('gt_label', )
    optional_target_fields: Tuple[str, ...] = ()
    multi_view: bool = False
    default_name: str = 'loss'

    def __init__(self, loss_weight: float = 1.0, loss_name: str = None,
                 views: Optional[Sequence[int]] = None, view_reduction: str = 'mean'):
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.loss_name = loss_name or self.default_name
        if not self.loss_name.startswith('loss'):
            raise ValueError(f'{type(self).__name__}: loss_name must start with "loss" '
                             f'(mmengine only sums keys that do), got {self.loss_name!r}')
        self.views = None if views is None else tuple(int(v) for v in views)
        if self.views is not None and (not self.views or min(self.views) < 0):
            raise ValueError(f'{type(self).__name__}: views must be non-negative view indices, '
                             f'got {views!r}')
        if view_reduction not in VIEW_REDUCTIONS:
            raise ValueError(f'{type(self).__name__}: view_reduction={view_reduction!r} is not '
                             f'one of {list(VIEW_REDUCTIONS)}')
        self.view_reduction = view_reduction

    @property
    def all_target_fields(self) -> Tuple[str, ...]:
        return tuple(self.target_fields) + tuple(self.optional_target_fields)

    def compute(self, *tensors: torch.Tensor, **targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _lookup(self, outputs: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        missing = [k for k in self.consumes if k not in outputs]
        if missing:
            raise KeyError(
                f'{type(self).__name__} consumes {list(self.consumes)} but the model produced '
                f'{sorted(outputs)}; missing {missing}. Use a neck that returns these tensors.')
        return [outputs[k] for k in self.consumes]

    def _targets(self, targets: Union[torch.Tensor, Dict[str, torch.Tensor], None]) -> dict:
        """Keyword arguments of ``compute``: ``target`` (= gt_label) and the other fields."""
        if targets is None:
            targets = {}
        elif isinstance(targets, torch.Tensor):  # a bare label tensor (N,)
            targets = dict(gt_label=targets)
        if ('gt_score' in targets and 'gt_label' in self.target_fields
                and 'gt_score' not in self.all_target_fields):
            raise ValueError(
                f'{type(self).__name__} ({self.loss_name}) trains on hard labels, but this batch '
                'carries soft targets (gt_score, e.g. from Mixup / CutMix batch augments). '
                'Remove the batch augments from data_preprocessor or drop this loss; mmfer does '
                'not silently train it on the un-mixed labels.')
        missing = [f for f in self.target_fields if f not in targets]
        if missing:
            raise KeyError(
                f'{type(self).__name__} ({self.loss_name}) needs the data-sample field(s) '
                f'{missing}, but the batch has {sorted(targets)}. Pack them into the data '
                'samples (e.g. PackInputs(algorithm_keys=[...]) or a dataset wrapper that sets '
                'them).')
        kwargs = {}
        for f in self.all_target_fields:
            if f in targets:
                kwargs['target' if f == 'gt_label' else f] = targets[f]
        return kwargs

    def forward(self, outputs: Union[Dict[str, torch.Tensor], List[Dict[str, torch.Tensor]]],
                targets: Union[torch.Tensor, Dict[str, torch.Tensor], List[dict], None] = None
                ) -> torch.Tensor:
        """Weighted loss of one view (``outputs`` a dict, ``targets`` a dict or a label
        tensor), or — for a ``multi_view`` loss — of its views (lists, one entry per view:
        ``compute`` then receives a list per consumed name and the targets of the first view)."""
        if self.multi_view:
            if not isinstance(outputs, (list, tuple)):
                raise TypeError(f'{type(self).__name__} compares views: call it with the list '
                                'of per-view outputs (a multi-view classifier does)')
            per_view = [self._lookup(o) for o in outputs]
            tensors = [list(t) for t in zip(*per_view)]
            first = targets[0] if isinstance(targets, (list, tuple)) else targets
            return self.loss_weight * self.compute(*tensors, **self._targets(first))
        return self.loss_weight * self.compute(*self._lookup(outputs), **self._targets(targets))


def apply_losses(losses: Sequence[BaseFERLoss], outputs: List[Dict[str, torch.Tensor]],
                 targets: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """``{loss_name: value}`` of every loss over the views it declares.

    Args:
        losses: the configured losses (``BaseFERLoss``).
        outputs: one named-tensor dict per view (a single-view batch: a list of one).
        targets: one target dict per view (``gt_label`` may differ per view, e.g. QCS
            negatives).

    A per-view loss over views S gives ``mean_{v∈S} L_v`` (or the sum); a ``multi_view`` loss
    is called once with the outputs of S.
    """
    num_views = len(outputs)
    out: Dict[str, torch.Tensor] = {}
    for loss in losses:
        views = loss.views if loss.views is not None else tuple(range(num_views))
        bad = [v for v in views if v >= num_views]
        if bad:
            raise ValueError(f'{type(loss).__name__} ({loss.loss_name}) applies to views '
                             f'{list(views)}, but the batch has {num_views} view(s)')
        if loss.multi_view:
            value = loss([outputs[v] for v in views], [targets[v] for v in views])
        else:
            values = [loss(outputs[v], targets[v]) for v in views]
            value = values[0]
            for v in values[1:]:
                value = value + v
            if loss.view_reduction == 'mean' and len(values) > 1:
                value = value / len(values)
        if loss.loss_name in out:
            raise ValueError(f'two losses log under {loss.loss_name!r}; give each a loss_name')
        out[loss.loss_name] = value
    return out


@MODELS.register_module()
class FERCrossEntropyLoss(BaseFERLoss):
    """Cross-entropy on ``logits``: ``mean_n −log softmax(z_n)[y_n]`` (optionally label-smoothed,
    optionally class-weighted). Logged as ``loss_ce``.

    With soft targets ``gt_score`` in the batch (mmpretrain's Mixup / CutMix batch augments) it
    computes ``mean_n −Σ_c s_nc log softmax(z_n)_c`` instead (with class weights: each class
    term times w_c, averaged over N — PyTorch's probability-target convention).
    """

    consumes = ('logits', )
    target_fields = ('gt_label', )
    optional_target_fields = ('gt_score', )
    default_name = 'loss_ce'

    def __init__(self, loss_weight: float = 1.0, label_smoothing: float = 0.0,
                 class_weight: Sequence[float] = None, loss_name: str = None, **kwargs):
        super().__init__(loss_weight, loss_name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        if class_weight is not None:
            self.register_buffer('class_weight', torch.tensor(class_weight, dtype=torch.float))
        else:
            self.class_weight = None

    def compute(self, logits, target, gt_score=None):
        if gt_score is not None:
            if gt_score.shape != logits.shape:
                raise ValueError(f'FERCrossEntropyLoss: gt_score {tuple(gt_score.shape)} does not '
                                 f'match the logits {tuple(logits.shape)}')
            target = gt_score.to(logits.dtype)
        return F.cross_entropy(logits, target, weight=self.class_weight,
                               label_smoothing=self.label_smoothing)
