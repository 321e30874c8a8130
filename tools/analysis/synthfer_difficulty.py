"""How hard is SynthFER? Train the baseline once, evaluate the clean test and the hard subsets.

Plain PyTorch, mirroring the quick-start demo (``configs/baseline/r18_synthfer.py``):

- data: SynthFER rendered at ``--render-size`` (100 px, like the RAF-DB layout the demo writes),
  saved/decoded as JPEG (quality 95, like ``synthfer_writer.py``), resized to ``--input-size``
  (64 px, bilinear, like mmcv's ``Resize``), random horizontal flip for training;
  normalised with the ImageNet mean/std in RGB (the demo's ``ClsDataPreprocessor``);
- model: mmpretrain ``ResNet(depth=18, stem_channels=32, base_channels=32)`` + global average
  pooling + ``Linear(256, 7)``;
- schedule: Adam (lr 1e-3), cosine decay per iteration to 1e-5, ``--epochs`` epochs, batch 64,
  cross-entropy.

Evaluated on (all test identities unseen in training):

- the clean test split (``--num-test`` images);
- the conditional subsets of :class:`~mmfer.datasets.SynthFER` with the same size: sample i has the
  label, identity, expression and appearance of test sample i, only the conditioned factor differs:
  ``weak`` (intensity ≤ 0.35), ``pose30`` / ``pose45`` (|yaw| > 30° / 45°), ``occlusion``
  (a strong occluder);
- with ``--noise 0.3`` a second model is trained on labels with 30 % of them flipped (clean test).

Prints and writes a markdown table (``--out-md``) and the figures as JSON (``--out-json``).

Example (about 15 min on 2 shared CPU cores)::

    python tools/analysis/synthfer_difficulty.py --out-md work_dirs/synthfer_difficulty.md
"""
import argparse
import json
import logging
import multiprocessing as mp
import os
import os.path as osp
import sys
import time
from typing import List, Optional

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import DictAction
from mmengine.logging import MMLogger

from mmfer.datasets.synthfer import SUBSETS, assign_labels, noisy_labels
from mmfer.datasets.synthfer_render import CLASSES, render, sample_params

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
SUBSET_NAMES = {
    'weak': 'weak intensity (≤ 0.35)',
    'pose30': '|yaw| > 30°',
    'pose45': '|yaw| > 45°',
    'occlusion': 'occluded (sunglasses / mask / hand / patch)'
}


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-train', type=int, default=8000)
    parser.add_argument('--num-test', type=int, default=2000)
    parser.add_argument('--render-size', type=int, default=100)
    parser.add_argument('--input-size', type=int, default=64)
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--seed', type=int, default=0, help='SynthFER seed')
    parser.add_argument('--train-seed', type=int, default=0, help='torch seed (init, order, flips)')
    parser.add_argument('--subsets', nargs='*', default=['weak', 'pose30', 'pose45', 'occlusion'],
                        choices=[s for s in SUBSETS if s])
    parser.add_argument('--noise', type=float, default=0.3,
                        help='also train on labels with this noise rate (0 = skip)')
    parser.add_argument('--nuisance', nargs='+', action=DictAction, default={},
                        help='overrides of DEFAULT_NUISANCE for every set, e.g. occlusion_prob=0')
    parser.add_argument('--workers', type=int, default=2, help='rendering processes')
    parser.add_argument('--threads', type=int, default=2, help='torch threads')
    parser.add_argument('--out-md', default='work_dirs/synthfer_difficulty.md')
    parser.add_argument('--out-json', default=None)
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# data
_CFG = {}


def _init(cfg):
    cv2.setNumThreads(1)
    _CFG.update(cfg)


def _one(task):
    split, index, label, subset = task
    c = _CFG
    p = sample_params(c['seed'],
                      index,
                      label,
                      split=split,
                      nuisance=c['nuisance'],
                      **SUBSETS[subset])
    img, _ = render(p, c['render_size'])
    # the writer's JPEG round trip (OpenCV encodes BGR), back to RGB
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(img[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, 95])
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    if c['input_size'] != c['render_size']:
        img = cv2.resize(img, (c['input_size'], c['input_size']), interpolation=cv2.INTER_LINEAR)
    return img


def render_set(split, labels, subset, args) -> torch.Tensor:
    """(N, 3, S, S) uint8 RGB images of ``split`` (optionally a subset)."""
    tasks = [(split, i, int(lab), subset) for i, lab in enumerate(labels)]
    cfg = dict(seed=args.seed, render_size=args.render_size, input_size=args.input_size,
               nuisance=dict(args.nuisance))
    if args.workers > 1:
        with mp.get_context('fork').Pool(args.workers, _init, (cfg,)) as pool:
            imgs = pool.map(_one, tasks, chunksize=64)
    else:
        _init(cfg)
        imgs = [_one(t) for t in tasks]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------------------------------------
# model and training
class Baseline(nn.Module):
    """mmpretrain ResNet-18 (width 32) → global average pooling → Linear(256, 7)."""

    def __init__(self, num_classes=7):
        super().__init__()
        from mmpretrain.models import ResNet
        self.backbone = ResNet(depth=18, stem_channels=32, base_channels=32, out_indices=(3, ))
        # mmpretrain's default (Kaiming) initialisation, as the Runner applies it; its long
        # per-parameter report is silenced
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            self.backbone.init_weights()
        finally:
            logger.setLevel(level)
        self.fc = nn.Linear(256, num_classes)

    def forward(self, x):
        f = self.backbone(x)[-1]
        return self.fc(f.mean((2, 3)))


def _prep(x: torch.Tensor) -> torch.Tensor:
    return (x.float() - MEAN) / STD


def train(x: torch.Tensor, y: torch.Tensor, args) -> nn.Module:
    torch.manual_seed(args.train_seed)
    model = Baseline()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n = len(x)
    steps = args.epochs * ((n + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-5)
    gen = torch.Generator().manual_seed(args.train_seed)
    model.train()
    t0 = time.time()
    for ep in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        tot, correct, seen = 0.0, 0, 0
        for b in range(0, n, args.batch_size):
            idx = perm[b:b + args.batch_size]
            xb, yb = x[idx], y[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
            logits = model(_prep(xb))
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            seen += len(idx)
        print(
            f'  epoch {ep + 1}/{args.epochs}: loss {tot / seen:.3f}, '
            f'train acc {100 * correct / seen:.1f} % '
            f'({time.time() - t0:.0f} s)',
            flush=True)
    return model


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    model.eval()
    pred = torch.cat([model(_prep(x[b:b + 256])).argmax(1) for b in range(0, len(x), 256)])
    cm = np.zeros((len(CLASSES), len(CLASSES)), int)
    np.add.at(cm, (y.numpy(), pred.numpy()), 1)
    per_class = cm.diagonal() / np.maximum(cm.sum(1), 1)
    return dict(accuracy=100.0 * float((pred == y).float().mean()),
                mean_class_accuracy=100.0 * float(per_class.mean()),
                per_class=[round(100.0 * v, 2) for v in per_class], confusion=cm.tolist(), n=len(y))


# ---------------------------------------------------------------------------------------------
def run(args) -> dict:
    torch.set_num_threads(args.threads)
    t_start = time.time()
    y_train = assign_labels(args.num_train, args.seed, 'train')
    y_test = assign_labels(args.num_test, args.seed, 'test')
    print(
        f'rendering {args.num_train} train + {args.num_test} test (+ {len(args.subsets)} subsets) '
        f'at {args.render_size} px → {args.input_size} px ...',
        flush=True)
    t0 = time.time()
    x_train = render_set('train', y_train, None, args)
    sets = {'test': render_set('test', y_test, None, args)}
    for s in args.subsets:
        sets[s] = render_set('test', y_test, s, args)
    t_render = time.time() - t0
    print(f'  rendered in {t_render:.0f} s', flush=True)
    yt = torch.from_numpy(y_test)

    t0 = time.time()
    print('training on clean labels', flush=True)
    model = train(x_train, torch.from_numpy(y_train), args)
    t_train = time.time() - t0
    results = {name: evaluate(model, x, yt) for name, x in sets.items()}
    noisy_res, t_train_noisy = None, None
    if args.noise > 0:
        y_noisy = noisy_labels(y_train, args.noise, args.seed, 'train')
        t0 = time.time()
        print(f'training on labels with {args.noise:.0%} noise', flush=True)
        noisy_model = train(x_train, torch.from_numpy(y_noisy), args)
        t_train_noisy = time.time() - t0
        noisy_res = evaluate(noisy_model, sets['test'], yt)
    return dict(args=vars(args), results=results, noisy=noisy_res, render_s=t_render,
                train_s=t_train, train_noisy_s=t_train_noisy, total_s=time.time() - t_start)


def to_markdown(res: dict) -> str:
    a, r = res['args'], res['results']
    full = r['test']['accuracy']
    rows = [('clean test split', r['test'])]
    rows += [(SUBSET_NAMES[s], r[s]) for s in a['subsets']]
    if res['noisy'] is not None:
        rows.append((f"trained with {a['noise']:.0%} label noise (clean test)", res['noisy']))
    lines = ['| test set | images | accuracy (%) | mean class acc. (%) | Δ vs clean |',
             '|---|---:|---:|---:|---:|']
    for name, m in rows:
        delta = '' if m is r['test'] else f"{m['accuracy'] - full:+.1f}"
        lines.append(
            f"| {name} | {m['n']} | {m['accuracy']:.1f} | {m['mean_class_accuracy']:.1f} "
            f"| {delta} |"
        )
    lines += ['', 'Per-class accuracy on the clean test split (%):', '',
              '| ' + ' | '.join(CLASSES) + ' |', '|' + '---:|' * len(CLASSES),
              '| ' + ' | '.join(f'{v:.1f}' for v in r['test']['per_class']) + ' |', '',
              'Confusion matrix of the clean test split (rows: true, columns: predicted):', '',
              '| | ' + ' | '.join(c[:4] for c in CLASSES) + ' |', '|---|' + '---:|' * len(CLASSES)]
    for c, row in zip(CLASSES, r['test']['confusion']):
        lines.append(f'| {c} | ' + ' | '.join(str(v) for v in row) + ' |')
    lines += [
        '', f"ResNet-18 (width 32), {a['input_size']} px (rendered at {a['render_size']} px, "
        f"JPEG 95), {a['num_train']} training images, {a['epochs']} epochs, Adam "
        f"{a['lr']:g} + cosine, batch {a['batch_size']}, SynthFER seed {a['seed']}, "
        f"torch seed {a['train_seed']}; rendering {res['render_s']:.0f} s, training "
        f"{res['train_s']:.0f} s" +
        (f" (+ {res['train_noisy_s']:.0f} s for the noisy run)" if res['train_noisy_s'] else '') +
        f" with {a['threads']} torch threads."
    ]
    return '\n'.join(lines) + '\n'


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    res = run(args)
    md = to_markdown(res)
    print()
    print(md)
    for path, text in ((args.out_md, md), (args.out_json, json.dumps(res, indent=1))):
        if path:
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
            print(f'written {path}')
    return res


if __name__ == '__main__':
    main(sys.argv[1:])
