"""KDEF k-fold cross-validation as one command: train and test every fold, aggregate.

    python tools/analysis/kdef_folds.py configs/lan/lan_r18_kdef.py --work-dir work_dirs/lan_kdef \
        [--num-folds 10] [--folds 0 1 ...] [--cfg-options k=v ...]

The config's train / val / test datasets are ``KFoldDataset`` wrappers of ``KDEF`` (as
``configs/lan/lan_r18_kdef.py``); for fold k the tool sets ``fold=k`` and ``num_splits=K`` on
each wrapper (and ``num_folds=K`` on the KDEF reader, whose sample order makes the cut
subject-disjoint by default, specs/datasets.md §5), trains in ``WORK_DIR/fold_k`` and predicts
the held-out fold with the final weights. Written: ``WORK_DIR/kdef_folds.json`` with the fold
accuracies (%), their mean and standard deviation (sample std, ddof = 1, and population std,
ddof = 0), the pooled confusion matrix over all held-out images (rows: true class, columns:
predicted) and its accuracy, and the class names; the summary is printed.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import Config, DictAction

import mmfer  # noqa: F401  (registers plugins and the safe checkpoint globals)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='KDEF k-fold cross-validation: train + test each '
                                'fold, mean ± std accuracy and a pooled confusion matrix')
    p.add_argument('config', help='a config with KFoldDataset(KDEF) train/val/test datasets')
    p.add_argument('--work-dir', required=True, help='folder of the fold runs and the summary')
    p.add_argument('--num-folds', type=int, default=None,
                   help='K (default: the config\'s num_splits)')
    p.add_argument('--folds', type=int, nargs='+', default=None,
                   help='run only these folds (default all K); the summary covers those run')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='override config entries (as tools/train.py)')
    return p.parse_args(argv)


def _kfold_wrappers(cfg):
    out = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg.get(key)
        if not dl:
            continue
        ds = dl['dataset']
        if ds.get('type') != 'KFoldDataset':
            raise ValueError(f'{key}.dataset is {ds.get("type")!r}, not a KFoldDataset; '
                             'kdef_folds.py needs KFoldDataset(KDEF) datasets (see '
                             'configs/lan/lan_r18_kdef.py)')
        out.append((key, ds))
    if not any(k == 'train_dataloader' for k, _ in out) or not any(
            k == 'test_dataloader' for k, _ in out):
        raise ValueError('kdef_folds.py needs a train_dataloader and a test_dataloader')
    return out


def fold_config(cfg: Config, fold: int, num_folds: int, work_dir: str) -> Config:
    """A copy of ``cfg`` training on every fold but ``fold`` and testing on ``fold``."""
    cfg = copy.deepcopy(cfg)
    for _, ds in _kfold_wrappers(cfg):
        ds['fold'] = fold
        ds['num_splits'] = num_folds
        inner = ds['dataset']
        if inner.get('type') == 'KDEF':
            inner['num_folds'] = num_folds
    cfg.work_dir = osp.join(work_dir, f'fold_{fold}')
    return cfg


def predict(model, dataloader):
    """(pred, gt) int arrays of ``model`` over ``dataloader``."""
    model.eval()
    preds, gts = [], []
    with torch.no_grad():
        for batch in dataloader:
            for ds in model.test_step(batch):
                preds.append(int(ds.pred_label))
                gts.append(int(ds.gt_label))
    return np.array(preds, np.int64), np.array(gts, np.int64)


def summarise(fold_acc: dict, cm: np.ndarray, classes) -> dict:
    accs = np.array(list(fold_acc.values()), np.float64)
    return dict(
        folds={str(k): round(float(v), 4) for k, v in fold_acc.items()},
        mean=round(float(accs.mean()), 4),
        std=round(float(accs.std(ddof=1)), 4) if len(accs) > 1 else 0.0,
        std_population=round(float(accs.std(ddof=0)), 4),
        pooled_accuracy=round(float(100.0 * np.trace(cm) / max(cm.sum(), 1)), 4),
        pooled_confusion_matrix=cm.tolist(),
        classes=list(classes),
        num_images=int(cm.sum()))


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    from mmfer.evaluation.fer_metric import confusion_matrix
    from tools.train import build_runner
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    wrappers = _kfold_wrappers(cfg)
    num_folds = args.num_folds or int(dict(wrappers)['train_dataloader']['num_splits'])
    folds = args.folds if args.folds is not None else list(range(num_folds))
    bad = [k for k in folds if not 0 <= k < num_folds]
    if bad:
        raise ValueError(f'--folds {bad} outside 0..{num_folds - 1}')
    os.makedirs(args.work_dir, exist_ok=True)
    fold_acc, cm, classes = {}, None, None
    for k in folds:
        runner = build_runner(fold_config(cfg, k, num_folds, args.work_dir))
        runner.train()
        pred, gt = predict(runner.model, runner.test_dataloader)
        classes = runner.test_dataloader.dataset.metainfo['classes']
        fold_cm = confusion_matrix(pred, gt, len(classes))
        cm = fold_cm if cm is None else cm + fold_cm
        fold_acc[k] = 100.0 * float((pred == gt).mean())
        print(f'fold {k}: {len(gt)} test images, accuracy {fold_acc[k]:.2f} %', flush=True)
    result = summarise(fold_acc, cm, classes)
    result.update(config=osp.abspath(args.config), num_folds=num_folds)
    out = osp.join(args.work_dir, 'kdef_folds.json')
    with open(out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'{len(folds)} folds: accuracy {result["mean"]:.2f} ± {result["std"]:.2f} % '
          f'(mean ± sample std); pooled {result["pooled_accuracy"]:.2f} % over '
          f'{result["num_images"]} images; written {out}')
    return result


if __name__ == '__main__':
    main()
