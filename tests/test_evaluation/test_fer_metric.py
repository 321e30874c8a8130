import numpy as np
import pytest
import torch

from mmfer.evaluation.fer_metric import FERMetric, confusion_matrix, fer_scores


def _run(pairs, classes):
    metric = FERMetric()
    metric.dataset_meta = dict(classes=classes)
    metric.process(None, [dict(pred_label=torch.tensor([p]), gt_label=torch.tensor([g]))
                          for p, g in pairs])
    return metric.evaluate(len(pairs))


def test_hand_computed_case():
    # true a: 3 samples (2 right), true b: 1 (right), true c: 2 (0 right, both → b)
    pairs = [(0, 0), (0, 0), (1, 0), (1, 1), (1, 2), (1, 2)]
    res = _run(pairs, ('a', 'b', 'c'))
    assert res['fer/accuracy'] == pytest.approx(100 * 3 / 6)
    assert res['fer/mean_class_accuracy'] == pytest.approx(100 * (2 / 3 + 1 + 0) / 3)
    assert res['fer/acc_a'] == pytest.approx(200 / 3)
    assert res['fer/acc_b'] == pytest.approx(100.0)
    assert res['fer/acc_c'] == pytest.approx(0.0)
    # F1: a P=1 R=2/3 → 0.8; b P=1/4 R=1 → 0.4; c → 0
    assert res['fer/macro_f1'] == pytest.approx(100 * (0.8 + 0.4 + 0) / 3)
    assert res['fer/confusion_matrix'].tolist() == [[2, 1, 0], [0, 1, 0], [0, 2, 0]]


def test_absent_class_excluded_from_mean():
    cm = confusion_matrix(np.array([0, 1]), np.array([0, 1]), 3)
    s = fer_scores(cm)
    assert s['mean_class_accuracy'] == pytest.approx(1.0)
    assert s['support'].tolist() == [1, 1, 0]


def test_out_of_range_label_raises():
    with pytest.raises(ValueError, match='out of range'):
        _run([(3, 0)], ('a', 'b', 'c'))
