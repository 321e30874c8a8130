"""Training targets from data samples: the one place that turns ``DataSample`` fields into
batch tensors for the losses (``gt_label``, ``neg_label``, ``clean_label``, ``gt_score``,
``guidance_map``, ``landmarks`` ...). No classifier or head special-cases a field name.

Stacking rule, per field over the N samples of a batch:

- labels (``gt_label`` and any field whose values are 1-element integer tensors or Python /
  numpy integers) → a long tensor of shape (N,);
- anything else (score vectors, maps, landmark arrays; tensors, numpy arrays or numbers) →
  ``torch.stack`` → (N, ...), in the dtype the samples carry (numpy float64 becomes float32).
"""
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch


def _as_tensor(value, field: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(value))
        return t.float() if t.dtype == torch.float64 else t
    if isinstance(value, (int, float, np.integer, np.floating, bool)):
        return torch.tensor(value)
    raise TypeError(f'data-sample field {field!r} holds a {type(value).__name__}; a training '
                    'target must be a tensor, a numpy array or a number')


def _stack(values: List[torch.Tensor], field: str) -> torch.Tensor:
    ints = all(not v.is_floating_point() and not v.is_complex() for v in values)
    if ints and all(v.numel() == 1 and v.dim() <= 1 for v in values):
        return torch.cat([v.reshape(1) for v in values]).long()
    shapes = {tuple(v.shape) for v in values}
    if len(shapes) > 1:
        raise ValueError(f'data-sample field {field!r} has different shapes in one batch: '
                         f'{sorted(shapes)}; every sample must carry the same shape')
    return torch.stack(values)


def gather_targets(data_samples: Sequence, fields: Iterable[str],
                   optional: Iterable[str] = (), device=None) -> Dict[str, torch.Tensor]:
    """``{field: tensor}`` for every field in ``fields`` (required) and in ``optional`` (taken
    when the samples carry it).

    Raises:
        ValueError: no data samples, or a field carried by some samples but not all.
        KeyError: a required field that the samples do not carry; the message names the fix.
    """
    if not data_samples:
        raise ValueError('training needs data samples with targets; got none')
    out: Dict[str, torch.Tensor] = {}
    for field in list(dict.fromkeys(list(fields) + list(optional))):
        have = [field in ds for ds in data_samples]
        if not any(have):
            if field in fields:
                raise KeyError(f'the losses need the data-sample field {field!r}, which this '
                               f'batch does not carry (it has {sorted(data_samples[0].keys())}). '
                               'Set it in the dataset / pipeline (e.g. PackInputs(algorithm_keys='
                               f"['{field}']) or the dataset wrapper that provides it)")
            continue
        if not all(have):
            raise ValueError(f'data-sample field {field!r} is set on {sum(have)} of '
                             f'{len(have)} samples of the batch; it must be on all or none')
        out[field] = _stack([_as_tensor(ds.get(field), field) for ds in data_samples],
                            field).to(device)
    return out


def loss_target_fields(losses: Iterable) -> tuple:
    """(required, optional) data-sample fields read by ``losses`` (``BaseFERLoss``es)."""
    required, optional = [], []
    for loss in losses:
        required += list(getattr(loss, 'target_fields', ('gt_label', )))
        optional += list(getattr(loss, 'optional_target_fields', ()))
    required = list(dict.fromkeys(required))
    optional = [f for f in dict.fromkeys(optional) if f not in required]
    return tuple(required), tuple(optional)


def view_targets(targets: Dict[str, torch.Tensor],
                 label_fields: Optional[Sequence[str]]) -> List[Dict[str, torch.Tensor]]:
    """One target dict per view: view i sees ``targets[label_fields[i]]`` as its ``gt_label``
    (e.g. QCS: ``('gt_label', 'gt_label', 'neg_label', 'neg_label')``); other fields are
    shared by all views."""
    if label_fields is None:
        return [targets]
    out = []
    for field in label_fields:
        if field not in targets:
            raise KeyError(f'view label field {field!r} is not in the batch targets '
                           f'{sorted(targets)}')
        out.append(dict(targets, gt_label=targets[field]))
    return out
