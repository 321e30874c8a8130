"""Train the QCS/DCS SynthFER configs and the base network alone with the same budget; compare.

    python tools/analysis/compare_qcs_base.py [--variants base base_sam qcs dcs] [--epochs 5]
        [--num-samples 1600] [--val-samples 400] [--seeds 0 1] [--threads 1] [--workers 2]
        [--lr 1e-4] [--work-dir work_dirs/compare_qcs_base] [--dry-run]

Variants (all share the tiny base network of ``configs/qcs/poster_base_synthfer.py``, the same
anchors per epoch, epochs, cosine schedule and Adam lr ``--lr``; QCS/DCS batches hold as many
images per pass as the base batch):

- ``base``: ``poster_base_synthfer.py`` as is (Adam, one pass, CE);
- ``base_sam``: the same with ``SAMOptimWrapper(rho=0.05)`` (isolates the optimiser's effect);
- ``qcs``: ``qcs_synthfer.py`` (4 branches, SAM); ``dcs``: ``dcs_synthfer.py`` (2 branches, SAM).

Each run is ``tools/train.py CONFIG --work-dir DIR --seed S --cfg-options ...`` in a subprocess
(``OMP_NUM_THREADS=--threads``); validation runs every epoch on the SynthFER test split, which
only the base network processes. The script reads the validation metrics from mmengine's
``vis_data/scalars.json`` and writes ``compare.json`` and ``compare.md`` (per run: last and best
epoch accuracy and mean class accuracy, wall time, training and inference parameter counts) into
the work dir, then prints the table. Model selection: both "last" (final epoch) and "best" (max
over epochs, i.e. selected on the evaluation split, as the official QCS scripts do) are shown.

Measurements (equal epochs, and the base network given as many images as QCS) and what they
show: docs/qcs.md, "Measured on SynthFER". For a compute-matched run give the base variants
4× the epochs of QCS (2× for DCS): a QCS anchor is four images. The data order and augmentation
are not deterministic with workers, so differences of a few points are within run-to-run
variation; use several ``--seeds`` before concluding.
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

VARIANTS = {
    # name: (config, nested path of the train dataset inside train_dataloader, extra options)
    'base': ('configs/qcs/poster_base_synthfer.py', 'dataset', []),
    'base_sam': ('configs/qcs/poster_base_synthfer.py', 'dataset',
                 ['optim_wrapper.type=SAMOptimWrapper', 'optim_wrapper.rho=0.05']),
    'qcs': ('configs/qcs/qcs_synthfer.py', 'dataset.dataset', []),
    'dcs': ('configs/qcs/dcs_synthfer.py', 'dataset.dataset', []),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--variants', nargs='+', default=['base', 'base_sam', 'qcs'],
                   choices=sorted(VARIANTS))
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--num-samples', type=int, default=1600, help='training anchors per epoch')
    p.add_argument('--val-samples', type=int, default=400)
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--lr', type=float, default=1e-4,
                   help='Adam lr of every variant (1e-3, the base config\'s, did not train: '
                   'see the docstring); 0 keeps each config\'s own')
    p.add_argument('--threads', type=int, default=1, help='OMP_NUM_THREADS of each run')
    p.add_argument('--workers', type=int, default=2, help='dataloader workers')
    p.add_argument('--work-dir', default='work_dirs/compare_qcs_base')
    p.add_argument('--dry-run', action='store_true', help='print the commands only')
    return p.parse_args(argv)


def train_command(variant: str, args, seed: int, work_dir: str) -> List[str]:
    """The ``tools/train.py`` command line of one run."""
    config, ds_path, extra = VARIANTS[variant]
    opts = [
        f'train_cfg.max_epochs={args.epochs}',
        f'param_scheduler.T_max={args.epochs}',
        f'train_dataloader.{ds_path}.num_samples={args.num_samples}',
        f'val_dataloader.dataset.num_samples={args.val_samples}',
        f'test_dataloader.dataset.num_samples={args.val_samples}',
        f'train_dataloader.num_workers={args.workers}',
        f'val_dataloader.num_workers={args.workers}',
        'default_hooks.checkpoint.max_keep_ckpts=1',
    ] + extra
    if args.lr:
        opts.append(f'optim_wrapper.optimizer.lr={args.lr}')
    if args.workers == 0:
        opts += ['train_dataloader.persistent_workers=False',
                 'val_dataloader.persistent_workers=False']
    return [sys.executable, osp.join(ROOT, 'tools/train.py'), osp.join(ROOT, config),
            '--work-dir', work_dir, '--seed', str(seed), '--cfg-options'] + opts


def read_val_metrics(work_dir: str) -> List[Dict[str, float]]:
    """Per-epoch validation metrics (``fer/...`` keys) of the latest run in ``work_dir``."""
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'no vis_data/scalars.json under {work_dir}; did training run?')
    rows = []
    with open(runs[-1]) as f:
        for line in f:
            rec = json.loads(line)
            if 'fer/accuracy' in rec:
                rows.append(rec)
    if not rows:
        raise ValueError(f'{runs[-1]} holds no fer/accuracy entry (no validation epoch ran)')
    return rows


def summarise(rows: List[Dict[str, float]]) -> dict:
    """Last and best (max over epochs) accuracy / mean class accuracy."""
    acc = [r['fer/accuracy'] for r in rows]
    mca = [r['fer/mean_class_accuracy'] for r in rows]
    return dict(epochs=len(rows), acc_last=acc[-1], mca_last=mca[-1], acc_best=max(acc),
                mca_best=max(mca), acc_per_epoch=acc)


def param_counts(config: str) -> dict:
    """Training parameters and those of the inference (base) network of a config."""
    from mmfer.apis import build_model
    model = build_model(osp.join(ROOT, config))
    base = [model.backbone, model.neck, model.head]
    return dict(train_params=sum(p.numel() for p in model.parameters()),
                inference_params=sum(p.numel() for m in base for p in m.parameters()))


def markdown(results: List[dict]) -> str:
    lines = ['| variant | seed | epochs | acc last | acc best | mean-class acc last | '
             'mean-class acc best | wall time (s) | train params | inference params |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in results:
        lines.append(f"| {r['variant']} | {r['seed']} | {r['epochs']} | {r['acc_last']:.2f} | "
                     f"{r['acc_best']:.2f} | {r['mca_last']:.2f} | {r['mca_best']:.2f} | "
                     f"{r['wall_s']:.0f} | {r['train_params']:,} | {r['inference_params']:,} |")
    by_variant = {}
    for r in results:
        by_variant.setdefault(r['variant'], []).append(r)
    if any(len(v) > 1 for v in by_variant.values()):
        lines += ['', '| variant | runs | acc last (mean) | acc best (mean) |', '|---|---|---|---|']
        for v, rs in by_variant.items():
            lines.append(f"| {v} | {len(rs)} | {statistics.mean(r['acc_last'] for r in rs):.2f}"
                         f" | {statistics.mean(r['acc_best'] for r in rs):.2f} |")
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    results = []
    for variant in args.variants:
        counts = None if args.dry_run else param_counts(VARIANTS[variant][0])
        for seed in args.seeds:
            wd = osp.join(args.work_dir, f'{variant}_seed{seed}')
            cmd = train_command(variant, args, seed, wd)
            print(f'OMP_NUM_THREADS={args.threads} ' + ' '.join(cmd), flush=True)
            if args.dry_run:
                continue
            t0 = time.time()
            subprocess.run(cmd, env=env, cwd=ROOT, check=True)
            wall = time.time() - t0
            res = dict(variant=variant, seed=seed, config=VARIANTS[variant][0], wall_s=wall,
                       **counts, **summarise(read_val_metrics(wd)))
            results.append(res)
            print(json.dumps(res), flush=True)
    if args.dry_run:
        return []
    with open(osp.join(args.work_dir, 'compare.json'), 'w') as f:
        json.dump(dict(args=vars(args), results=results), f, indent=1)
    table = markdown(results)
    with open(osp.join(args.work_dir, 'compare.md'), 'w') as f:
        f.write(table + '\n')
    print(table)
    return results


if __name__ == '__main__':
    main()
