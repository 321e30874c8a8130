"""t-SNE of the ``feat`` vectors (the head's input) of a test split, coloured by class.

    python tools/analysis/vis_tsne.py CONFIG CKPT [--out-dir DIR] [--max-samples N] \
        [--batch-size B] [--perplexity 30] [--max-iter 1000] [--seed 0] [--threads 1] \
        [--cfg-options key=value ...]

``CKPT`` is a checkpoint or ``none`` (constructor weights; a smoke test). The config's
``test_dataloader`` runs through the model's data preprocessor and ``model.extract_feat``; its
``feat`` entry (N×D, what the head classifies; a multi-view classifier runs its base network
on the single-view test images) is embedded in 2-D by scikit-learn's ``TSNE`` (the ``vis``
extra; scikit-learn 1.9 names the iteration count ``max_iter`` — ``n_iter`` is gone since 1.7,
one reason mmpretrain's ``vis_tsne.py`` does not run here), ``init='pca'``,
``learning_rate='auto'``, ``random_state=--seed``. Perplexity must be below the number of
samples; a larger value is refused.

Written to ``--out-dir`` (default ``work_dirs/tsne/<config name>``):

- ``tsne.png``: the points coloured by true class (legend with the class names);
- ``tsne_points.npy``: N×2 float32 points, in test-set order;
- ``tsne_points.json``: the points with each sample's true and predicted label, the class
  names and two separation figures: the leave-one-out 5-nearest-neighbour accuracy of the true
  labels in the 2-D map and in the original D-dimensional ``feat`` space.
"""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np

VIS_EXTRA = 'pip install -e ".[vis]"  (grad-cam, scikit-learn, tensorboard; make install does it)'


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none' (constructor weights)")
    parser.add_argument('--out-dir', default=None,
                        help='output folder (default work_dirs/tsne/<config name>)')
    parser.add_argument('--max-samples', type=int, default=None,
                        help='use at most this many test images (default: all)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help="feature batch size (default: the test dataloader's)")
    parser.add_argument('--perplexity', type=float, default=30.0, help='t-SNE perplexity')
    parser.add_argument('--max-iter', type=int, default=1000, help='t-SNE iterations')
    parser.add_argument('--seed', type=int, default=0, help='t-SNE random_state (and weights)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch intra-op threads (0: leave the default)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def extract_features(model, loader_cfg, max_samples=None, device='cpu'):
    """(N×D ``feat``, N true labels, N predicted labels) of a test dataloader."""
    import torch
    from mmfer.engine.runner import FERRunner  # resolves num_workers='auto'
    loader = FERRunner.build_dataloader(loader_cfg)
    feats, labels, preds = [], [], []
    n = 0
    with torch.no_grad():
        for data in loader:
            data = model.data_preprocessor(data, False)
            out = model.extract_feat(data['inputs'].to(device))
            feat = out['feat']
            logits = model.head(out)
            keep = len(feat) if max_samples is None else min(len(feat), max_samples - n)
            feats.append(feat[:keep].float().cpu().numpy())
            preds.append(logits[:keep].argmax(1).cpu().numpy())
            labels.append(np.array([int(s.gt_label) for s in data['data_samples'][:keep]]))
            n += keep
            if max_samples is not None and n >= max_samples:
                break
    if not n:
        raise ValueError('the test dataloader gave no sample')
    return np.concatenate(feats), np.concatenate(labels), np.concatenate(preds)


def embed(feats, perplexity=30.0, max_iter=1000, seed=0):
    """N×D → N×2 float32 with scikit-learn's TSNE (``max_iter``: scikit-learn ≥ 1.5 name)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError as e:
        raise ImportError(f'scikit-learn is not installed: {VIS_EXTRA}') from e
    if perplexity >= len(feats):
        raise ValueError(f'--perplexity {perplexity:g} must be below the number of samples '
                         f'({len(feats)}); lower it or use more samples')
    tsne = TSNE(n_components=2, perplexity=perplexity, max_iter=max_iter, init='pca',
                learning_rate='auto', random_state=seed)
    return tsne.fit_transform(np.asarray(feats, np.float64)).astype(np.float32)


def knn_accuracy(points, labels, k=5):
    """Leave-one-out k-NN accuracy of ``labels`` (majority of the k nearest other points)."""
    points = np.asarray(points, np.float64)
    d = ((points[:, None] - points[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    k = min(k, len(points) - 1)
    near = np.argsort(d, axis=1)[:, :k]
    votes = labels[near]
    guess = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return float((guess == labels).mean())


def plot(points, labels, classes, out, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 5.5), dpi=120)
    cmap = plt.get_cmap('tab10' if labels.max() < 10 else 'tab20')
    for c in np.unique(labels):
        sel = labels == c
        name = classes[c] if classes and c < len(classes) else str(c)
        ax.scatter(points[sel, 0], points[sel, 1], s=8, color=cmap(int(c)), label=name,
                   alpha=0.8, linewidths=0)
    ax.legend(markerscale=2, fontsize=8, loc='best')
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    import torch

    from mmfer.apis import init_model
    from mmfer.apis.fer_inferencer import config_classes
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    model = init_model(args.config, ckpt, args.device, args.cfg_options)
    loader_cfg = dict(model.cfg.test_dataloader)
    if args.batch_size:
        loader_cfg['batch_size'] = args.batch_size
    feats, labels, preds = extract_features(model, loader_cfg, args.max_samples, args.device)
    points = embed(feats, args.perplexity, args.max_iter, args.seed)
    classes = model.classes or config_classes(model.cfg)
    out_dir = args.out_dir or osp.join('work_dirs', 'tsne',
                                       osp.splitext(osp.basename(args.config))[0])
    os.makedirs(out_dir, exist_ok=True)
    knn_2d, knn_feat = knn_accuracy(points, labels), knn_accuracy(feats, labels)
    title = (f'{osp.basename(args.config)}: t-SNE of feat ({feats.shape[1]}-d), {len(feats)} '
             f'test images\n5-NN accuracy: 2-D {knn_2d:.3f}, feat {knn_feat:.3f}; '
             f'accuracy {float((preds == labels).mean()):.3f}')
    plot(points, labels, classes, osp.join(out_dir, 'tsne.png'), title)
    np.save(osp.join(out_dir, 'tsne_points.npy'), points)
    result = dict(config=args.config, checkpoint=args.checkpoint, num_samples=len(feats),
                  feat_dim=int(feats.shape[1]), perplexity=args.perplexity,
                  max_iter=args.max_iter, seed=args.seed, classes=classes,
                  accuracy=float((preds == labels).mean()), knn5_accuracy_2d=knn_2d,
                  knn5_accuracy_feat=knn_feat, labels=labels.tolist(), preds=preds.tolist(),
                  points=points.tolist())
    with open(osp.join(out_dir, 'tsne_points.json'), 'w') as f:
        json.dump(result, f)
    print(f't-SNE of {len(feats)} feat vectors ({feats.shape[1]}-d) → {out_dir}/tsne.png, '
          f'tsne_points.npy, tsne_points.json; 5-NN accuracy 2-D {knn_2d:.3f}, feat '
          f'{knn_feat:.3f}')
    return result


if __name__ == '__main__':
    main()
    sys.exit(0)
