"""Memorisation of corrupted labels on a noisy training set (dacfer.md §3, EAC protocol).

For a training set with noisy labels ỹ (what the model was trained on) and the clean labels y
kept by :class:`~mmfer.datasets.LabelNoiseDataset` (``gt_label_clean``), over the corrupted
samples S = {i : ỹ_i ≠ y_i} and the model's predictions p:

- memorisation rate  = |{i ∈ S : p_i = ỹ_i}| / |S|  (the noisy label was learnt);
- correction rate    = |{i ∈ S : p_i = y_i}| / |S|  (the true class is predicted despite it);
- clean-sample accuracy = |{i ∉ S : p_i = y_i}| / |{i ∉ S}|.

Run it on the noisy training split with the test pipeline (configs/dacfer/*_noise*_memo.py).
"""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmfer.registry import METRICS


def memorisation_rates(pred: Sequence[int], noisy: Sequence[int], clean: Sequence[int]) -> dict:
    """``dict(memorisation, correction, clean_accuracy, num_corrupted, num_samples)``; rates
    in percent, ``nan`` where the denominator is 0 (no corrupted / no clean sample)."""
    pred, noisy, clean = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (pred, noisy, clean))
    if not len(pred) == len(noisy) == len(clean):
        raise ValueError(f'memorisation_rates: {len(pred)} predictions, {len(noisy)} noisy and '
                         f'{len(clean)} clean labels; they must be per sample')
    corrupted = noisy != clean

    def rate(hit, mask):
        return 100.0 * float(hit[mask].mean()) if mask.any() else float('nan')

    return dict(memorisation=rate(pred == noisy, corrupted),
                correction=rate(pred == clean, corrupted),
                clean_accuracy=rate(pred == clean, ~corrupted),
                num_corrupted=int(corrupted.sum()), num_samples=int(len(pred)))


@METRICS.register_module()
class MemorisationMetric(BaseMetric):
    """:func:`memorisation_rates` over an evaluation set whose data samples carry
    ``gt_label`` (noisy) and ``gt_label_clean`` (pack it with
    ``PackInputs(algorithm_keys=['gt_label_clean'])``).

    Results (prefix ``noise``): ``noise/memorisation``, ``noise/correction``,
    ``noise/clean_accuracy`` (percent), ``noise/num_corrupted``, ``noise/num_samples``.
    """
    default_prefix = 'noise'

    def __init__(self, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)

    @staticmethod
    def _int(value) -> int:
        return int(np.asarray(value.cpu() if hasattr(value, 'cpu') else value).reshape(-1)[0])

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            if 'gt_label_clean' not in ds:
                raise KeyError('MemorisationMetric needs gt_label_clean in the data samples: '
                               'evaluate a LabelNoiseDataset split and add '
                               "PackInputs(algorithm_keys=['gt_label_clean']) to its pipeline")
            self.results.append((self._int(ds['pred_label']), self._int(ds['gt_label']),
                                 self._int(ds['gt_label_clean'])))

    def compute_metrics(self, results: list) -> dict:
        arr = np.asarray(results, dtype=np.int64).reshape(-1, 3)
        return memorisation_rates(arr[:, 0], arr[:, 1], arr[:, 2])


def last_epochs_summary(records, key: str = 'fer/accuracy', k: int = 5) -> dict:
    """The noisy-label reporting of EAC (dacfer.md §3): mean of ``key`` over the last ``k``
    validation epochs next to the best epoch.

    Args:
        records: a path to mmengine's ``vis_data/scalars.json`` (one JSON dict per line; the
            validation lines carry ``key`` and ``step`` = the epoch) or a list of such dicts.
        key: the metric (default ``'fer/accuracy'``).
        k: how many final epochs to average (default 5).

    Returns:
        ``dict(last_k_mean, last_k_epochs, best, best_epoch, num_epochs)``.
    """
    import json
    if isinstance(records, (str, bytes)) or hasattr(records, '__fspath__'):
        with open(records, encoding='utf-8') as f:
            records = [json.loads(line) for line in f if line.strip()]
    rows = [(int(r.get('epoch', r.get('step'))), float(r[key])) for r in records if key in r]
    if not rows:
        raise KeyError(f'last_epochs_summary: no record carries {key!r}; validation metrics are '
                       "logged as e.g. 'fer/accuracy' in vis_data/scalars.json")
    by_epoch = dict(rows)  # a re-run epoch (resume) keeps its last value
    epochs = sorted(by_epoch)
    last = epochs[-k:]
    best_epoch = max(epochs, key=lambda e: (by_epoch[e], -e))
    return dict(last_k_mean=float(np.mean([by_epoch[e] for e in last])), last_k_epochs=last,
                best=by_epoch[best_epoch], best_epoch=best_epoch, num_epochs=len(epochs))
