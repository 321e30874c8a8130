"""Confusion matrices of FER predictions: counting, loading prediction dumps, drawing.

- Counting uses :func:`mmfer.evaluation.fer_metric.confusion_matrix`, the count FERMetric
  logs (``cm[i, j]`` = number of samples of true class i predicted as class j).
- :func:`load_predictions` reads the pickle that mmengine's ``DumpResults`` metric writes
  (``tools/test.py --out preds.pkl``): a list of dicts with ``gt_label`` (1-element tensor),
  ``pred_label`` (1-element tensor) and ``pred_score`` (C-element tensor) per sample.
  It unpickles with the allow-list of :mod:`mmfer.utils.checkpoint` (tensors, OrderedDict,
  numpy arrays), never running other code from the file.
- :func:`plot_confusion_matrix` draws a labelled matrix with, in every cell, the count and the
  row-normalised percentage 100·cm[i, j] / Σ_j cm[i, j] (the share of true class i predicted as
  j; the diagonal is the per-class recall).  mmpretrain's ``ConfusionMatrix.plot`` shows one of
  the two only, hence this function.
"""
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
import torch

__all__ = ['load_predictions', 'confusion_matrix_from_predictions', 'normalize_rows',
           'plot_confusion_matrix', 'figure_size_inches']


def load_predictions(path: str) -> List[dict]:
    """Read a ``DumpResults`` pickle: a list of per-sample dicts.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the content is not a list of dicts with ``pred_label``/``pred_score`` and
            ``gt_label`` (names the first offending sample).
    """
    from mmfer.utils.checkpoint import restricted_pickle_load
    if not osp.isfile(path):
        raise FileNotFoundError(f'prediction dump not found: {path}; write one with '
                                f'tools/test.py CONFIG CHECKPOINT --out {path}')
    # mmfer.utils.checkpoint's restricted unpickler: tensors, arrays, plain containers only
    results = restricted_pickle_load(
        path, what='prediction dump',
        fix='A DumpResults file holds only dicts, tensors and numbers, so mmfer is refusing to '
            'unpickle anything else. Re-create it with tools/test.py CONFIG CKPT --out preds.pkl')
    if not isinstance(results, (list, tuple)) or not results:
        raise ValueError(f'{path}: expected a non-empty list of per-sample dicts (mmengine '
                         f'DumpResults format), got {type(results).__name__}')
    for i, r in enumerate(results):
        if not isinstance(r, dict) or 'gt_label' not in r or not (
                'pred_label' in r or 'pred_score' in r):
            keys = sorted(r) if isinstance(r, dict) else type(r).__name__
            raise ValueError(f'{path}: sample {i} lacks gt_label and pred_label/pred_score '
                             f'(has {keys}); dump the predictions of a model with ground '
                             f'truth (tools/test.py --out)')
    return list(results)


def _label(x) -> int:
    t = torch.as_tensor(x).reshape(-1)
    if t.numel() != 1:
        raise ValueError(f'expected a single label, got a tensor of shape {tuple(t.shape)}')
    return int(t.item())


def confusion_matrix_from_predictions(results: Sequence[dict],
                                      num_classes: Optional[int] = None) -> np.ndarray:
    """C×C int64 matrix, ``cm[i, j]`` = samples of true class i predicted as j, counted by
    :func:`mmfer.evaluation.fer_metric.confusion_matrix` (the count :class:`FERMetric` logs).

    ``pred_label`` is used when present, else argmax of ``pred_score``.  ``num_classes``
    defaults to the length of ``pred_score`` (or 1 + the largest label seen).
    """
    from mmfer.evaluation.fer_metric import confusion_matrix
    preds, gts = [], []
    for r in results:
        pred = r['pred_label'] if 'pred_label' in r else torch.as_tensor(r['pred_score']).argmax()
        preds.append(_label(pred))
        gts.append(_label(r['gt_label']))
    if num_classes is None:
        if 'pred_score' in results[0]:
            num_classes = int(torch.as_tensor(results[0]['pred_score']).numel())
        else:
            num_classes = max(preds + gts) + 1
    return confusion_matrix(np.asarray(preds, np.int64), np.asarray(gts, np.int64), num_classes)


def normalize_rows(cm: np.ndarray) -> np.ndarray:
    """Row-normalised percentages 100·cm[i, j] / Σ_j cm[i, j] (rows without samples are 0)."""
    cm = np.asarray(cm, dtype=np.float64)
    sums = cm.sum(axis=1, keepdims=True)
    return np.divide(100.0 * cm, sums, out=np.zeros_like(cm), where=sums > 0)


def figure_size_inches(num_classes: int) -> float:
    """Side of the (square) figure in inches: 0.9 in per class + 2.5 in margins, ≥ 5 in."""
    return max(5.0, 0.9 * num_classes + 2.5)


def plot_confusion_matrix(cm: Union[np.ndarray, torch.Tensor], classes: Sequence[str],
                          out_file: str, normalize: bool = True, title: Optional[str] = None,
                          dpi: int = 100, cmap: str = 'Blues') -> str:
    """Draw a labelled confusion matrix to a PNG.

    Rows are true classes, columns predicted classes.  Every cell shows the count and, below
    it, the row-normalised percentage.  With ``normalize`` the colours encode the row
    percentages (comparable across imbalanced classes, the usual FER case), else the counts.
    The image is figure_size_inches(C)·dpi pixels square.

    Args:
        cm: C×C counts.
        classes: C class names, in index order.
        out_file: PNG path (parent folders are created).
        normalize: colour by row percentages (default) or by counts.
        title: figure title; default states the accuracy and mean class accuracy.
        dpi: resolution.

    Returns:
        ``out_file``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    cm = np.asarray(cm.cpu() if isinstance(cm, torch.Tensor) else cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f'confusion matrix must be square C×C, got shape {cm.shape}')
    classes = [str(c) for c in classes]
    if len(classes) != cm.shape[0]:
        raise ValueError(f'{len(classes)} class names for a {cm.shape[0]}-class confusion '
                         f'matrix; pass one name per class in index order')
    pct = normalize_rows(cm)
    total = cm.sum()
    acc = 100.0 * np.trace(cm) / total if total else 0.0
    has = cm.sum(axis=1) > 0
    mca = float(np.mean(np.diag(pct)[has])) if has.any() else 0.0
    if title is None:
        title = f'accuracy {acc:.2f}%  mean class accuracy {mca:.2f}%  (n = {int(total)})'

    size = figure_size_inches(len(classes))
    fig, ax = plt.subplots(figsize=(size, size), dpi=dpi)
    shown = pct if normalize else cm
    vmax = 100.0 if normalize else max(1, cm.max())
    im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=vmax)
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label('% of true class' if normalize else 'count')
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels(classes, rotation=45, ha='right')
    ax.set_yticklabels(classes)
    ax.set_xlabel('predicted class')
    ax.set_ylabel('true class')
    ax.set_title(title, fontsize=9)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            dark = shown[i, j] > 0.55 * vmax
            ax.text(j, i, f'{int(cm[i, j])}\n{pct[i, j]:.1f}%', ha='center', va='center',
                    fontsize=8, color='white' if dark else 'black')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=dpi)
    plt.close(fig)
    return out_file
