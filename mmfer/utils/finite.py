"""Non-finite (NaN / ±inf) weight checks shared by training (no NaN checkpoint is ever written)
and evaluation (``tools/test.py`` refuses NaN weights instead of reporting a chance-level
accuracy as if it were a result)."""
from typing import Dict, List, Mapping, Tuple, Union

import torch
import torch.nn as nn

LIKELY_FIXES = (
    'Likely fixes: lower the learning rate (optim_wrapper.optimizer.lr); clip gradients '
    '(optim_wrapper.clip_grad=dict(max_norm=...)); with --amp keep the dynamic loss scale '
    "(optim_wrapper.loss_scale='dynamic') or train in fp32; check the inputs for corrupt "
    'images / labels (a NaN or inf already in data_batch)')


class NonFiniteError(FloatingPointError):
    """A loss or a weight is NaN or infinite (a :class:`FloatingPointError`, so callers that
    guard numerics can catch it)."""


def non_finite_tensors(state: Union[nn.Module, Mapping[str, torch.Tensor]]
                       ) -> List[Tuple[str, int, int]]:
    """``[(name, n_nan, n_inf), ...]`` for every floating-point tensor of ``state`` (a module's
    parameters and buffers, or a state dict, nested dicts flattened with ``.``) holding at least
    one NaN or ±inf. Integer tensors (e.g. BatchNorm's ``num_batches_tracked``) are skipped."""
    if isinstance(state, nn.Module):
        items = list(state.state_dict(keep_vars=False).items())
    else:
        items = list(_flatten(state))
    bad = []
    for name, value in items:
        if not (isinstance(value, torch.Tensor) and value.is_floating_point()):
            continue
        with torch.no_grad():
            n_nan = int(torch.isnan(value).sum())
            n_inf = int(torch.isinf(value).sum())
        if n_nan or n_inf:
            bad.append((name, n_nan, n_inf))
    return bad


def _flatten(state: Mapping, prefix: str = ''):
    for key, value in state.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f'{prefix}{key}.')
        else:
            yield f'{prefix}{key}', value


def describe_non_finite(bad: List[Tuple[str, int, int]], limit: int = 5) -> str:
    """``'3 tensors: fc.weight (12 NaN, 0 inf), ...'`` for the first ``limit`` entries."""
    shown = ', '.join(f'{n} ({nan} NaN, {inf} inf)' for n, nan, inf in bad[:limit])
    more = f', and {len(bad) - limit} more' if len(bad) > limit else ''
    return f'{len(bad)} tensor{"s" if len(bad) != 1 else ""}: {shown}{more}'


def check_finite_weights(state: Union[nn.Module, Mapping[str, torch.Tensor]],
                         path: str = '<weights>') -> None:
    """Raise :class:`NonFiniteError` naming ``path`` and the offending tensors if any
    floating-point parameter or buffer of ``state`` is NaN or ±inf; return None otherwise.

    A model whose weights went NaN during training predicts one constant class, so its
    "accuracy" is the share of that class in the test set (18.75 % in the lr = 1e6 case of
    issue 10) — a number that looks like a weak result, not a broken file."""
    bad = non_finite_tensors(state)
    if bad:
        raise NonFiniteError(
            f'{path} has non-finite weights in {describe_non_finite(bad)}. Its predictions '
            'would be meaningless (a constant class). The training run that wrote it diverged; '
            f'evaluate an earlier checkpoint or retrain. {LIKELY_FIXES}.')


def loss_values(outputs: Mapping) -> Dict[str, float]:
    """``{name: float}`` of the scalar entries of a ``train_step`` output (mmengine's parsed
    ``log_vars``: ``loss`` and every ``loss_*`` term); non-scalars are skipped."""
    values = {}
    for key, value in (outputs or {}).items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = float(value.detach())
        elif isinstance(value, (int, float)):
            value = float(value)
        else:
            continue
        values[key] = value
    return values
