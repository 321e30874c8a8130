"""Memorisation rate of corrupted labels and the last-5-epoch reporting (dacfer.md §3)."""
import json
import math

import numpy as np
import pytest
import torch

from mmfer.evaluation.memorisation import (MemorisationMetric, last_epochs_summary,
                                           memorisation_rates)
from mmfer.registry import METRICS


def test_rates_on_a_hand_case():
    clean = [0, 1, 2, 3, 4, 5, 6, 0]
    noisy = [1, 1, 0, 3, 6, 5, 6, 2]   # corrupted: samples 0, 2, 4, 7
    pred = [1, 1, 2, 0, 6, 5, 6, 5]    # 0 and 4 memorised, 2 corrected, 7 neither
    r = memorisation_rates(pred, noisy, clean)
    assert r['num_corrupted'] == 4 and r['num_samples'] == 8
    assert r['memorisation'] == 50.0 and r['correction'] == 25.0
    assert r['clean_accuracy'] == 75.0  # clean samples 1, 3, 5, 6: 3 of 4 right
    assert math.isnan(memorisation_rates([0], [0], [0])['memorisation'])
    with pytest.raises(ValueError, match='per sample'):
        memorisation_rates([0, 1], [0], [0])


def test_metric_on_data_samples():
    metric = METRICS.build(dict(type='MemorisationMetric'))
    samples = [dict(pred_label=torch.tensor([p]), gt_label=torch.tensor([n]), gt_label_clean=c)
               for p, n, c in [(1, 1, 0), (2, 0, 2), (3, 3, 3), (4, 5, 6)]]
    metric.process(None, samples)
    out = metric.evaluate(4)
    assert out['noise/memorisation'] == pytest.approx(100 / 3)
    assert out['noise/correction'] == pytest.approx(100 / 3)
    assert out['noise/clean_accuracy'] == 100.0 and out['noise/num_corrupted'] == 3
    with pytest.raises(KeyError, match="algorithm_keys=\\['gt_label_clean'\\]"):
        MemorisationMetric().process(None, [dict(pred_label=torch.tensor([0]),
                                                 gt_label=torch.tensor([0]))])


def test_last_5_mean_and_best_from_scalars_json(tmp_path):
    path = tmp_path / 'scalars.json'
    accs = [50, 70, 80, 79, 81, 78, 77, 80]
    lines = [dict(loss=1.0, step=i) for i in range(3)]  # training lines carry no metric
    lines += [{'fer/accuracy': a, 'step': e} for e, a in enumerate(accs, 1)]
    path.write_text('\n'.join(json.dumps(x) for x in lines) + '\n')
    s = last_epochs_summary(str(path))
    assert s['last_k_epochs'] == [4, 5, 6, 7, 8]
    assert s['last_k_mean'] == pytest.approx(np.mean([79, 81, 78, 77, 80]))
    assert (s['best'], s['best_epoch'], s['num_epochs']) == (81.0, 5, 8)
    with pytest.raises(KeyError, match="no record carries 'fer/macro_f1'"):
        last_epochs_summary(str(path), key='fer/macro_f1')
