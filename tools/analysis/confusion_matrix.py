"""Confusion matrix PNG from a predictions dump.

    python tools/analysis/confusion_matrix.py PRED_PKL --out cm.png
        [--classes NAME ...] [--classes-json classes.json] [--checkpoint CKPT]
        [--no-normalize] [--save-json cm.json]

``PRED_PKL`` is what ``tools/test.py CONFIG CKPT --out preds.pkl`` writes (mmengine
``DumpResults``: per sample ``gt_label``, ``pred_label``, ``pred_score``).  Class names, in
index order, come from ``--classes``, a JSON file (a list, or a dict with ``classes``), or a
checkpoint's meta (``meta.dataset_meta.classes`` or ``meta.classes``); without any of them the
indices are used, and the tool says so.

Prints the matrix (rows = true class, columns = predicted class), the accuracy and the mean
class accuracy; draws counts + row-normalised percentages
(:func:`mmfer.visualization.confusion_matrix.plot_confusion_matrix`).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(
        description='Draw the confusion matrix of a DumpResults predictions pickle')
    parser.add_argument('pred_pkl', help='predictions pickle (tools/test.py --out)')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--classes', nargs='+', default=None, help='class names in index order')
    parser.add_argument('--classes-json', default=None,
                        help='JSON file: a list of class names or {"classes": [...]}')
    parser.add_argument('--checkpoint', default=None,
                        help='take the class names from this checkpoint\'s meta')
    parser.add_argument('--normalize', dest='normalize', action='store_true', default=True,
                        help='colour cells by row-normalised percentage (default)')
    parser.add_argument('--no-normalize', dest='normalize', action='store_false',
                        help='colour cells by count')
    parser.add_argument('--save-json', default=None,
                        help='also write the matrix, class names and accuracies to JSON')
    parser.add_argument('--title', default=None, help='figure title')
    args = parser.parse_args(argv)
    given = [a for a in ('classes', 'classes_json', 'checkpoint') if getattr(args, a)]
    if len(given) > 1:
        parser.error(f'give class names one way only, got --{" and --".join(given)}')
    return args


def classes_from_json(path: str) -> List[str]:
    with open(path) as f:
        obj = json.load(f)
    if isinstance(obj, dict):
        obj = obj.get('classes')
    if not isinstance(obj, list) or not all(isinstance(c, str) for c in obj):
        raise ValueError(f'{path}: expected a JSON list of class names or an object with a '
                         f'"classes" list')
    return obj


def classes_from_checkpoint(path: str) -> List[str]:
    from mmfer.utils.checkpoint import safe_torch_load
    ckpt = safe_torch_load(path)
    meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    classes = (meta.get('dataset_meta') or {}).get('classes') or meta.get('classes')
    if not classes:
        raise KeyError(f'{path}: the checkpoint meta has no class names (meta.dataset_meta.'
                       f'classes or meta.classes); pass --classes or --classes-json')
    return list(classes)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the tool; returns ``dict(confusion_matrix, classes, accuracy, mean_class_accuracy)``."""
    args = parse_args(argv)
    import numpy as np

    from mmfer.visualization.confusion_matrix import (confusion_matrix_from_predictions,
                                                      load_predictions, normalize_rows,
                                                      plot_confusion_matrix)
    results = load_predictions(args.pred_pkl)
    if args.classes:
        classes = list(args.classes)
    elif args.classes_json:
        classes = classes_from_json(args.classes_json)
    elif args.checkpoint:
        classes = classes_from_checkpoint(args.checkpoint)
    else:
        classes = None
    cm = confusion_matrix_from_predictions(results,
                                           num_classes=len(classes) if classes else None)
    if classes is None:
        classes = [str(i) for i in range(cm.shape[0])]
        print('no class names given (--classes / --classes-json / --checkpoint): using indices')
    pct = normalize_rows(cm)
    has = cm.sum(axis=1) > 0
    acc = 100.0 * float(np.trace(cm)) / max(1, int(cm.sum()))
    mca = float(np.mean(np.diag(pct)[has])) if has.any() else 0.0

    width = max(6, max(len(c) for c in classes))
    print(f'{len(results)} samples; rows = true class, columns = predicted class')
    print(' ' * width + ' ' + ' '.join(c[:width].rjust(width) for c in classes))
    for name, row in zip(classes, cm):
        print(name.ljust(width) + ' ' + ' '.join(str(int(v)).rjust(width) for v in row))
    print(f'accuracy: {acc:.2f}  mean class accuracy: {mca:.2f}')
    plot_confusion_matrix(cm, classes, args.out, normalize=args.normalize, title=args.title)
    print(f'wrote {args.out}')
    out = dict(confusion_matrix=cm.tolist(), classes=classes, accuracy=acc,
               mean_class_accuracy=mca, row_percent=pct.tolist())
    if args.save_json:
        os.makedirs(osp.dirname(osp.abspath(args.save_json)), exist_ok=True)
        with open(args.save_json, 'w') as f:
            json.dump(out, f, indent=1)
        print(f'wrote {args.save_json}')
    return out


if __name__ == '__main__':
    main(sys.argv[1:])
