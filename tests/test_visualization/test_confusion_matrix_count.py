"""The analysis tool's confusion matrix and FERMetric's come from one count
(:func:`mmfer.evaluation.fer_metric.confusion_matrix`), with the values of the mmpretrain count
the tool used before."""
import numpy as np
import pytest
import torch
from mmpretrain.evaluation import ConfusionMatrix

from mmfer.evaluation.fer_metric import FERMetric, confusion_matrix
from mmfer.visualization.confusion_matrix import confusion_matrix_from_predictions


def _dump(preds, gts, num_classes=None, scores=False):
    """Per-sample dicts as mmengine's DumpResults writes them."""
    out = []
    for p, g in zip(preds, gts):
        r = dict(gt_label=torch.tensor([g]))
        if scores:
            s = torch.zeros(num_classes)
            s[p] = 1.0
            r['pred_score'] = s
        else:
            r['pred_label'] = torch.tensor([p])
        out.append(r)
    return out


def test_hand_case():
    # true 0: predicted 0, 0, 2; true 1: 1; true 2: 1, 1
    preds, gts = [0, 0, 2, 1, 1, 1], [0, 0, 0, 1, 2, 2]
    expect = [[2, 0, 1], [0, 1, 0], [0, 2, 0]]
    assert confusion_matrix(np.array(preds), np.array(gts), 3).tolist() == expect
    cm = confusion_matrix_from_predictions(_dump(preds, gts), num_classes=3)
    assert cm.dtype == np.int64 and cm.tolist() == expect
    # from pred_score (argmax), num_classes from the score length
    assert confusion_matrix_from_predictions(_dump(preds, gts, 3, scores=True)).tolist() == expect


def test_same_values_as_metric_and_previous_count():
    rng = np.random.default_rng(0)
    gts = rng.integers(0, 7, 500)
    preds = np.where(rng.random(500) < 0.6, gts, rng.integers(0, 7, 500))
    cm = confusion_matrix_from_predictions(_dump(preds.tolist(), gts.tolist()), num_classes=7)
    old = ConfusionMatrix.calculate(torch.tensor(preds), torch.tensor(gts), num_classes=7)
    np.testing.assert_array_equal(cm, old.numpy())
    assert cm.sum() == 500 and np.trace(cm) == int((preds == gts).sum())
    metric = FERMetric(num_classes=7)
    metric.process(None, [dict(pred_label=torch.tensor([p]), gt_label=torch.tensor([g]))
                          for p, g in zip(preds, gts)])
    res = metric.compute_metrics(metric.results)
    np.testing.assert_array_equal(res['confusion_matrix'].numpy(), cm)


@pytest.mark.parametrize('preds,gts', [([0, 3], [0, 1]), ([0, -1], [0, 1]), ([0, 1], [-1, 1])])
def test_out_of_range_label(preds, gts):
    with pytest.raises(ValueError, match=r'label out of range for 3 classes.*right number'):
        confusion_matrix_from_predictions(_dump(preds, gts), num_classes=3)
    with pytest.raises(ValueError, match='out of range'):
        confusion_matrix(np.array(preds), np.array(gts), 3)
