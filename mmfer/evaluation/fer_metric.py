"""FERMetric: the numbers FER papers report, computed over the whole evaluation set."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmfer.registry import METRICS


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of samples of true class i predicted as j (int64, C×C).

    mmfer's one confusion-matrix count: :class:`FERMetric` and
    :func:`mmfer.visualization.confusion_matrix_from_predictions` (the analysis tool) use it.
    ``pred`` and ``gt`` are (N,) integer arrays; a label outside [0, C) raises (it would land in
    a wrong cell of the flattened count otherwise).
    """
    pred = np.asarray(pred, dtype=np.int64).reshape(-1)
    gt = np.asarray(gt, dtype=np.int64).reshape(-1)
    if pred.shape != gt.shape:
        raise ValueError(f'confusion_matrix: {pred.size} predictions for {gt.size} labels')
    if pred.size and (min(pred.min(), gt.min()) < 0 or max(pred.max(), gt.max()) >= num_classes):
        raise ValueError(f'label out of range for {num_classes} classes: gt in '
                         f'[{gt.min()}, {gt.max()}], pred in [{pred.min()}, {pred.max()}]; '
                         f'pass the right number of classes')
    return np.bincount(gt * num_classes + pred,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def fer_scores(cm: np.ndarray) -> dict:
    """Scores from a confusion matrix.

    - accuracy = trace / total;
    - per-class accuracy (recall) r_c = cm[c, c] / Σ_j cm[c, j];
    - mean class accuracy = mean of r_c over classes present in the ground truth (a class
      with no test sample has no recall; it is excluded, not counted as 0);
    - macro F1 = mean over the same classes of 2·P·R/(P+R) with P_c = cm[c, c] / Σ_i cm[i, c]
      (0 when P+R = 0).
    """
    cm = cm.astype(np.float64)
    support = cm.sum(1)
    predicted = cm.sum(0)
    tp = np.diag(cm)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    total = cm.sum()
    return dict(
        accuracy=float(tp.sum() / total) if total else 0.0,
        mean_class_accuracy=float(recall[present].mean()) if present.any() else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        per_class_accuracy=recall,
        support=support.astype(np.int64))


@METRICS.register_module()
class FERMetric(BaseMetric):
    """Overall accuracy, mean class accuracy, per-class accuracy, macro F1 and the confusion
    matrix, over the whole evaluation set (never averaged per batch).

    Results (prefix ``fer``), in percent like mmpretrain's metrics:
    ``fer/accuracy``, ``fer/mean_class_accuracy`` (use it as ``save_best`` with
    ``rule='greater'``), ``fer/macro_f1``, ``fer/acc_<ClassName>`` per class, and
    ``fer/confusion_matrix`` (a C×C int tensor; rows = true class, in ``dataset_meta`` order).

    mmpretrain's ``Accuracy`` / ``SingleLabelMetric`` / ``ConfusionMatrix`` compute pieces of
    this; FERMetric gathers them in one pass so that every number comes from one matrix.

    Args:
        num_classes (int, optional): defaults to ``len(dataset_meta['classes'])``.
        prefix (str): key prefix, default ``'fer'``.
    """
    default_prefix = 'fer'

    def __init__(self, num_classes: Optional[int] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            self.results.append(
                (int(ds['pred_label'].reshape(-1)[0]), int(ds['gt_label'].reshape(-1)[0])))

    def _class_names(self) -> List[str]:
        classes = (self.dataset_meta or {}).get('classes')
        if classes is not None:
            return list(classes)
        if self.num_classes is None:
            raise ValueError('FERMetric needs num_classes or dataset_meta["classes"]')
        return [str(i) for i in range(self.num_classes)]

    def compute_metrics(self, results: list) -> dict:
        names = self._class_names()
        num_classes = self.num_classes or len(names)
        if len(names) != num_classes:
            raise ValueError(f'FERMetric: num_classes={num_classes} but the dataset has '
                             f'{len(names)} classes {names}')
        arr = np.asarray(results, dtype=np.int64).reshape(-1, 2)
        cm = confusion_matrix(arr[:, 0], arr[:, 1], num_classes)
        s = fer_scores(cm)
        out = dict(accuracy=100 * s['accuracy'],
                   mean_class_accuracy=100 * s['mean_class_accuracy'],
                   macro_f1=100 * s['macro_f1'])
        for name, acc, n in zip(names, s['per_class_accuracy'], s['support']):
            if n > 0:
                out[f'acc_{name}'] = 100 * float(acc)
        out['confusion_matrix'] = torch.from_numpy(cm)
        MMLogger.get_current_instance().info(
            'confusion matrix (rows: true, cols: predicted; order ' + ', '.join(names) +
            '):\n' + np.array2string(cm))
        return out
