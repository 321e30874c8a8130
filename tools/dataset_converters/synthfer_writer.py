"""Write SynthFER to disk in the real FER layouts (RAF-DB basic, ImageFolder, list files).

Sample i of a split written here is sample i of ``SynthFER(split=..., num_samples=..., seed=...,
img_size=..., class_balance=...)`` (same labels, same render; saved as JPEG), so training from
the files and training on the fly see the same data.

Layouts (``--out OUT``):

- ``rafdb`` (datasets.md §2)::

      OUT/EmoLabel/list_patition_label.txt   "train_00001.jpg 5" (labels 1..7, RAF-DB order)
      OUT/Image/aligned/train_00001_aligned.jpg ... test_0001_aligned.jpg
      OUT/EmoLabel/noise01.txt ...            (--noise-rates 0.1 0.2 0.3: noise01/02/03.txt,
                                              train rows only, EAC style)

- ``imagefolder``: ``OUT/{train,test}/<k>/<name>.jpg`` with class folders named by the 0-based
  RAF-DB index ``0``..``6`` (sorted folder order = RAF-DB order) or, with
  ``--folder-names name``, by class name;
- ``list``: ``OUT/images/<name>.jpg`` and ``OUT/{train,test}.txt`` with
  ``images/<name>.jpg <label>`` lines (0-based, RAF-DB order, datasets.md §8).

Always written: ``OUT/synthfer_annotations.json`` (generator options, class names, and per image:
file, split, index, label (0-based), intensity, yaw/pitch/roll, identity, 68 landmarks in pixels,
face box, per-landmark visible/occluded flags as 68-character '0'/'1' strings, occluder) and
``OUT/subsets/test_{pose30,pose45,occlusion,weak}.txt``
(test images with |yaw| > 30°, |yaw| > 45°, a strong occluder, a non-neutral expression of
intensity ≤ 0.35; same line format as the layout's label file).  Noisy-label files hold the
training label with that fraction of labels flipped
(:func:`mmfer.datasets.synthfer.noisy_labels`).

Rendering runs in ``--workers`` processes; every image depends only on (seed, split, index,
options), so the output is byte-identical for any number of workers.

Example::

    python tools/dataset_converters/synthfer_writer.py --out data/synthfer_rafdb --format rafdb \\
        --num-train 8000 --num-test 2000 --size 100 --seed 0
"""
import argparse
import json
import multiprocessing as mp
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np

from mmfer.datasets.synthfer import assign_labels, noisy_labels
from mmfer.datasets.synthfer_render import (CLASSES, DEFAULT_NUM_IDENTITIES, NEUTRAL,
                                            STRONG_OCCLUDERS, WEAK_INTENSITY, render, sample_params)

FORMATS = ('rafdb', 'imagefolder', 'list')
SUBSET_RULES = {
    'pose30': lambda a: abs(a['yaw']) > 30,
    'pose45': lambda a: abs(a['yaw']) > 45,
    'occlusion': lambda a: a['occluder'] in STRONG_OCCLUDERS,
    'weak': lambda a: a['label'] != NEUTRAL and a['intensity'] <= WEAK_INTENSITY[1],
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--format', default='rafdb', choices=FORMATS)
    parser.add_argument('--num-train', type=int, default=8000)
    parser.add_argument('--num-test', type=int, default=2000)
    parser.add_argument('--size', type=int, default=100, help='image side (RAF-DB aligned: 100)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--class-balance', default='uniform', choices=('uniform', 'rafdb'))
    parser.add_argument('--num-identities', type=int, default=DEFAULT_NUM_IDENTITIES,
                        help='identities per split (train and test identities never overlap)')
    parser.add_argument('--noise-rates', type=float, nargs='*', default=[],
                        help='also write noisy training label files, e.g. 0.1 0.2 0.3')
    parser.add_argument('--folder-names', default='index', choices=('index', 'name'),
                        help='imagefolder: class folders 0..6 or class names')
    parser.add_argument('--quality', type=int, default=95, help='JPEG quality')
    parser.add_argument('--workers', type=int, default=2)
    return parser.parse_args(argv)


def image_stems(split: str, n: int):
    """RAF-DB style stems: train_00001 ... (5 digits), test_0001 ... (4 digits), 1-based."""
    width = max(5 if split == 'train' else 4, len(str(n)))
    stems = [f'{split}_{i + 1:0{width}d}' for i in range(n)]
    return stems


def rel_path(fmt: str, split: str, stem: str, label: int, folder_names: str) -> str:
    """Path of an image relative to ``--out`` in layout ``fmt``."""
    if fmt == 'rafdb':
        return f'Image/aligned/{stem}_aligned.jpg'
    if fmt == 'imagefolder':
        folder = str(label) if folder_names == 'index' else CLASSES[label]
        return f'{split}/{folder}/{stem}.jpg'
    return f'images/{stem}.jpg'


# Worker state: the options shared by every task (set once per process).
_OPTS = {}


def _init_worker(opts):
    cv2.setNumThreads(1)
    _OPTS.clear()
    _OPTS.update(opts)


def _write_one(task):
    """Render, save as JPEG, return the annotation record of one image."""
    split, index, label, path = task
    o = _OPTS
    p = sample_params(o['seed'], index, label, split=split, num_identities=o['num_identities'])
    img, ann = render(p, o['size'])
    ok, buf = cv2.imencode('.jpg', img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, o['quality']])
    if not ok:
        raise RuntimeError(f'OpenCV could not encode {path}')
    with open(osp.join(o['out'], path), 'wb') as f:
        f.write(buf.tobytes())
    return dict(file=path, split=split, index=index, label=int(label),
                intensity=round(ann['intensity'], 4),
                yaw=round(float(ann['pose'][0]), 3), pitch=round(float(ann['pose'][1]), 3),
                roll=round(float(ann['pose'][2]), 3), identity=ann['identity'],
                landmarks=np.round(ann['landmarks'].astype(np.float64), 2).tolist(),
                face_box=np.round(ann['face_box'].astype(np.float64), 2).tolist(),
                # 68-character strings of 0/1 per landmark (compact JSON)
                visible=''.join('01'[int(v)] for v in ann['visible']),
                occluded=''.join('01'[int(v)] for v in ann['occluded']), occluder=ann['occluder'])


def write(args) -> dict:
    """Write everything; returns the annotation dict (also saved as JSON)."""
    if args.format not in FORMATS:
        raise ValueError(f'--format must be one of {FORMATS}, got {args.format!r}')
    if args.num_train < 0 or args.num_test < 0 or args.num_train + args.num_test == 0:
        raise ValueError('--num-train / --num-test must be ≥ 0 and not both 0')
    out = args.out
    opts = dict(seed=args.seed, size=args.size, quality=args.quality, out=out,
                num_identities=args.num_identities)
    splits = [(s, n) for s, n in (('train', args.num_train), ('test', args.num_test)) if n > 0]
    tasks, lines, label_of = [], {}, {}
    for split, n in splits:
        labels = assign_labels(n, args.seed, split, args.class_balance)
        label_of[split] = labels
        for i, stem in enumerate(image_stems(split, n)):
            path = rel_path(args.format, split, stem, int(labels[i]), args.folder_names)
            os.makedirs(osp.join(out, osp.dirname(path)), exist_ok=True)
            tasks.append((split, i, int(labels[i]), path))
            lines.setdefault(split, []).append((stem, path))

    t0 = time.time()
    if args.workers > 1:
        ctx = mp.get_context('fork' if sys.platform.startswith('linux') else 'spawn')
        with ctx.Pool(args.workers, _init_worker, (opts,)) as pool:
            records = list(pool.imap(_write_one, tasks, chunksize=32))
    else:
        _init_worker(opts)
        records = [_write_one(t) for t in tasks]
    elapsed = time.time() - t0

    def label_line(split, k, label):
        stem, path = lines[split][k]
        if args.format == 'rafdb':
            return f'{stem}.jpg {label + 1}'
        return f'{path} {label}'

    def write_lines(path, rows):
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(''.join(r + '\n' for r in rows))

    # label files
    if args.format == 'rafdb':
        write_lines(osp.join(out, 'EmoLabel', 'list_patition_label.txt'),
                    [label_line(s, k, int(label_of[s][k])) for s, n in splits for k in range(n)])
    elif args.format == 'list':
        for s, n in splits:
            write_lines(osp.join(out, f'{s}.txt'),
                        [label_line(s, k, int(label_of[s][k])) for k in range(n)])
    for rate in args.noise_rates:
        if 'train' not in label_of:
            raise ValueError('--noise-rates needs training images (--num-train > 0)')
        noisy = noisy_labels(label_of['train'], rate, args.seed, 'train')
        # EAC's names: noise01/02/03.txt for 10/20/30 %; other rates by percent
        tenths = rate * 10
        name = (f'noise{int(round(tenths)):02d}.txt' if abs(tenths - round(tenths)) < 1e-9
                else f'noise_{rate * 100:g}pct.txt')
        if args.format == 'rafdb':
            path = osp.join(out, 'EmoLabel', name)
        else:
            path = osp.join(out, f'train_{name}')
        write_lines(path, [label_line('train', k, int(noisy[k])) for k in range(len(noisy))])
    # filtered test subsets
    if 'test' in label_of:
        test_recs = [r for r in records if r['split'] == 'test']
        for name, rule in SUBSET_RULES.items():
            write_lines(osp.join(out, 'subsets', f'test_{name}.txt'),
                        [label_line('test', r['index'], r['label']) for r in test_recs if rule(r)])

    ann = dict(info=dict(generator='mmfer SynthFER', classes=list(CLASSES), seed=args.seed,
                         size=args.size, class_balance=args.class_balance,
                         num_identities=args.num_identities, format=args.format,
                         label_base=1 if args.format == 'rafdb' else 0,
                         num_train=args.num_train, num_test=args.num_test,
                         landmarks='68 iBUG points, pixel (x, y) in the saved image',
                         pose='degrees; yaw > 0 turns the nose to the image right, pitch > 0 '
                              'lifts the chin, roll > 0 turns the face clockwise'),
               images=records)
    with open(osp.join(out, 'synthfer_annotations.json'), 'w') as f:
        json.dump(ann, f, separators=(',', ':'))
    counts = {s: np.bincount(label_of[s], minlength=len(CLASSES)).tolist() for s, _ in splits}
    print(
        f'[synthfer_writer] {len(records)} images ({args.format}, {args.size}px) written to {out} '
        f'in {elapsed:.1f} s with {args.workers} worker(s); per class {counts}')
    return ann


def main(argv=None):
    write(parse_args(argv))


if __name__ == '__main__':
    main()
