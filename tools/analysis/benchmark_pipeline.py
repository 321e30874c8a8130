"""Data-pipeline cost per image (ms/img on one core) of one or more configs, interleaved.

    python tools/analysis/benchmark_pipeline.py CONFIG [CONFIG ...] [--split train|test]
        [--cfg-options k=v ...] [--num-images 200] [--rounds 5] [--warmup 5]
        [--resize-backends cv2 pillow] [--resize-scale N] [--resize-only] [--out result.json|.md]

For every config the ``<split>_dataloader.dataset`` is built under ``default_scope='mmfer'``
(the config's own dataset, so its images: files of an on-disk dataset, renders of SynthFER)
and ``dataset[i]`` — what a DataLoader worker does per sample: read the annotation, run the
whole pipeline (load, resize, augment, pack) — is timed over ``--num-images`` indices spread
evenly over the split. The process runs as one loader worker does: torch with one thread and
OpenCV's own threading off (``cv2.setNumThreads(0)``, mmfer's ``env_cfg.mp_cfg``), so ms/img is
the cost on one core, and img/s per core = 1000 / ms.

Rows are measured interleaved: each of ``--rounds`` rounds runs every row once over the same
images, after ``--warmup`` untimed samples per row; the table gives the median ms/img over the
rounds and, for each row, the median over rounds of its ratio to the first row's time in the
same round (> 1: slower than the first row), so slow drifts of a shared machine cancel.

- ``--resize-backends cv2 pillow``: each config becomes one row per backend, the ``backend`` of
  every mmcv ``Resize`` in its dataset config set to it (``torchvision/Resize`` is pillow by
  construction and is left alone; a config without an mmcv ``Resize`` is an error).
- ``--resize-scale N``: every mmcv ``Resize`` gets ``scale=(N, N)`` (e.g. 224 or 112 to time
  RAF-DB-style 100×100 aligned faces at the input sizes of the recipes).
- ``--resize-only``: times the first top-level ``Resize`` of the pipeline alone, on the samples
  the dataset gives with its pipeline cut before it (decoded or rendered once, copied outside
  the timed region); with
  several backends it also reports, per row, how far its output is from the first row's
  (max and mean absolute difference in grey levels, share of values more than 1 apart).
- ``--cfg-options`` applies to every config (e.g. a data_root).
"""
import argparse
import copy
import json
import os.path as osp
import statistics
import sys
import time
from typing import List, Optional

from mmengine.config import DictAction

RESIZE_TYPES = ('Resize', 'mmcv.Resize')
BACKENDS = ('cv2', 'pillow')


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(
        description='Time the data pipeline (ms/img on one core) of configs, interleaved.')
    parser.add_argument('configs', nargs='+', help='config file(s); ratios are to the first row')
    parser.add_argument('--split', default='train', choices=['train', 'test'],
                        help='which dataloader: train_dataloader or test_dataloader '
                        '(default train)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries of every config, key=value')
    parser.add_argument('--num-images', type=int, default=200,
                        help='samples per row and round (default 200)')
    parser.add_argument('--rounds', type=int, default=5, help='interleaved rounds (default 5)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed samples per row before the rounds (default 5)')
    parser.add_argument('--resize-backends', nargs='+', choices=BACKENDS,
                        help='one row per Resize backend (mmcv Resize backend=...)')
    parser.add_argument('--resize-scale', type=int,
                        help='set every mmcv Resize to scale=(N, N)')
    parser.add_argument('--resize-only', action='store_true',
                        help='time the first Resize of the pipeline alone (and compare '
                        'backends)')
    parser.add_argument('--out', help='also write the rows to a .json or .md file')
    args = parser.parse_args(argv)
    for name in ('num_images', 'rounds'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    return args


def _resizes(node):
    """Every mmcv ``Resize`` dict in a (nested) config node."""
    if isinstance(node, dict):
        if node.get('type') in RESIZE_TYPES:
            yield node
        for v in node.values():
            yield from _resizes(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _resizes(v)


def dataset_cfg(config: str, split: str, cfg_options=None, backend=None, scale=None):
    """The ``<split>_dataloader.dataset`` config of ``config`` with the Resize settings."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(f'{config}: no {split}_dataloader.dataset to benchmark')
    ds = copy.deepcopy(loader['dataset'].to_dict() if hasattr(loader['dataset'], 'to_dict')
                       else dict(loader['dataset']))
    resizes = list(_resizes(ds))
    if (backend is not None or scale is not None) and not resizes:
        raise ValueError(f'{config}: --resize-backends / --resize-scale need an mmcv Resize '
                         f'(type={RESIZE_TYPES[0]!r}) in the {split} pipeline; there is none '
                         '(torchvision/Resize is pillow by construction)')
    for r in resizes:
        if backend is not None:
            r['backend'] = backend
        if scale is not None:
            r['scale'] = (scale, scale)
    return ds


def build_dataset(ds_cfg):
    from mmengine.registry import init_default_scope

    import mmfer  # noqa: F401  (registers the datasets and transforms)
    from mmfer.registry import DATASETS
    init_default_scope('mmfer')
    return DATASETS.build(ds_cfg)


def sample_indices(n_total: int, n: int) -> List[int]:
    """``n`` indices spread evenly over ``range(n_total)`` (repeats when n > n_total)."""
    if n_total < 1:
        raise ValueError('the dataset is empty')
    return [int(i * n_total / n) % n_total for i in range(n)]


def _pipeline_of(ds):
    while not hasattr(ds, 'pipeline') and hasattr(ds, 'dataset'):
        ds = ds.dataset
    return ds


class Row:
    """One measured row: a config (and backend), timing either ``dataset[i]`` or its Resize."""

    def __init__(self, config, split, cfg_options, backend, scale, num_images, resize_only):
        self.config, self.backend = config, backend
        self.name = osp.splitext(osp.basename(config))[0]
        self.dataset = build_dataset(dataset_cfg(config, split, cfg_options, backend, scale))
        self.indices = sample_indices(len(self.dataset), num_images)
        self.resize_only = resize_only
        self.times, self.outputs = [], None
        if resize_only:
            from mmcv.transforms import Resize
            inner = _pipeline_of(self.dataset)
            transforms = list(getattr(inner.pipeline, 'transforms', []))
            pos = next((k for k, t in enumerate(transforms) if isinstance(t, Resize)), None)
            if pos is None:
                raise ValueError(f'{config}: --resize-only needs an mmcv Resize at the top level '
                                 'of the pipeline; there is none')
            self.resize = transforms[pos]
            # the samples as they reach the Resize: the dataset's own prepare_data (loading,
            # or SynthFER's rendering) with the pipeline cut before it
            inner.pipeline.transforms = transforms[:pos]
            try:
                self.inputs = [inner[i] for i in self.indices]
            finally:
                inner.pipeline.transforms = transforms

    def run(self, n=None):
        """Process the first ``n`` (all) samples; seconds spent in the timed part."""
        spent = 0.0
        if self.resize_only:
            outs = []
            for results in self.inputs[:n]:
                results = copy.copy(results)
                results['img'] = results['img'].copy()
                t0 = time.perf_counter()
                out = self.resize(results)
                spent += time.perf_counter() - t0
                outs.append(out['img'])
            self.outputs = outs
        else:
            t0 = time.perf_counter()
            for i in self.indices[:n]:
                self.dataset[i]
            spent = time.perf_counter() - t0
        return spent


def measure(rows, rounds, warmup):
    for row in rows:
        if warmup:
            row.run(warmup)
    for _ in range(rounds):
        for row in rows:
            row.times.append(row.run() * 1000.0 / len(row.indices))


def grey_diff(a_list, b_list):
    """(max |Δ|, mean |Δ|, share of values with |Δ| > 1) between two lists of uint8 images."""
    import numpy as np
    mx, total, big, count = 0, 0.0, 0, 0
    for a, b in zip(a_list, b_list):
        if a.shape != b.shape:
            raise ValueError(f'the backends give different shapes: {a.shape} vs {b.shape}')
        d = np.abs(a.astype(np.int16) - b.astype(np.int16))
        mx, total = max(mx, int(d.max())), total + float(d.sum())
        big, count = big + int((d > 1).sum()), count + d.size
    return mx, total / count, big / count


def summarise(rows):
    out = []
    ref = rows[0]
    for row in rows:
        ratios = [t / r for t, r in zip(row.times, ref.times)]
        ms = statistics.median(row.times)
        rec = dict(config=row.config, name=row.name, backend=row.backend or 'config',
                   images=len(row.indices), ms_per_img=ms, img_per_s_per_core=1000.0 / ms,
                   ratio_to_first=statistics.median(ratios), rounds=len(row.times))
        if row.resize_only and row.outputs is not None and ref.outputs is not None and \
                row.name == ref.name and row is not ref:
            mx, mean, share = grey_diff(row.outputs, ref.outputs)
            rec.update(max_abs_diff=mx, mean_abs_diff=mean, share_diff_gt1=share)
        elif row.resize_only:
            rec['out_shape'] = tuple(row.outputs[0].shape) if row.outputs else None
        out.append(rec)
    return out


def table(records, split, resize_only) -> str:
    what = 'Resize alone' if resize_only else f'{split} pipeline (dataset[i])'
    lines = [f'{what}, ms/img on one core (median of rounds); ratio: median per-round ratio '
             'to the first row', '',
             '| config | resize backend | images | ms/img | img/s per core | ratio to first |'
             ' max abs Δ | mean abs Δ | % abs Δ > 1 |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in records:
        d = ('{max_abs_diff} | {mean_abs_diff:.3f} | {pct:.2f}'.format(
            pct=100 * r['share_diff_gt1'], **r) if 'max_abs_diff' in r else '– | – | –')
        lines.append(f"| {r['name']} | {r['backend']} | {r['images']} | {r['ms_per_img']:.3f} | "
                     f"{r['img_per_s_per_core']:.0f} | {r['ratio_to_first']:.2f}× | {d} |")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None):
    args = parse_args(argv)
    import cv2
    import torch
    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    rows = []
    for config in args.configs:
        for backend in (args.resize_backends or [None]):
            rows.append(Row(config, args.split, args.cfg_options, backend, args.resize_scale,
                            args.num_images, args.resize_only))
    measure(rows, args.rounds, args.warmup)
    records = summarise(rows)
    text = table(records, args.split, args.resize_only)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            if args.out.endswith('.json'):
                json.dump(dict(argv=sys.argv[1:] if argv is None else argv, split=args.split,
                               rows=records), f, indent=2)
            else:
                f.write(text + '\n')
    return records


if __name__ == '__main__':
    main()
