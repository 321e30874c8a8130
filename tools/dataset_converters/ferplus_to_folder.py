"""Write the FER+ folder layout (and optionally list files) from the FER2013 / FER+ CSV pair.

Output (datasets.md §4.2)::

    OUT/FER2013Train/<name>.png ... label.csv      (Training)
    OUT/FER2013Valid/<name>.png ... label.csv      (PublicTest)
    OUT/FER2013Test/<name>.png  ... label.csv      (PrivateTest)
    OUT/ferplus_{train,val,test}.txt               (with --list)

- every row of ``fer2013new.csv`` with an image name is written as a lossless 48×48 grayscale PNG;
  rows without a name are skipped and counted;
- ``label.csv`` has no header: ``name,v1,…,v10`` (or ``name,"(0, 0, 48, 48)",v1,…,v10`` with
  ``--box-column``, the flavour of the FER+ repository);
- rows are keyed by row index: a name that occurs again in the same folder is written as
  ``<stem>_dup1.png``, ``<stem>_dup2.png`` … so nothing is overwritten;
- ``--list`` also writes ``<relative png path> <label>`` lines with the majority-vote label
  (FERPlus order, 0-based; samples without a majority, unknown or NF dropped; ``--num-classes 7``
  also drops Contempt), readable by ``FERListDataset``.

Example::

    python tools/dataset_converters/ferplus_to_folder.py data/fer2013.csv data/fer2013new.csv \\
        data/ferplus --list
"""
import argparse
import os
import os.path as osp
import sys
from collections import Counter, OrderedDict

import cv2

from mmfer.datasets.ferplus import (FERPLUS_SPLITS, ferplus_majority_label, iter_fer_csv_pair,
                                    parse_fer_pixels, parse_votes)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('fer2013', help='fer2013.csv (emotion,pixels,Usage)')
    parser.add_argument('ferplus', help='fer2013new.csv (FER+ votes)')
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--box-column', action='store_true',
                        help='write label.csv with the "(0, 0, 48, 48)" face-box column')
    parser.add_argument('--list', action='store_true',
                        help='also write ferplus_{train,val,test}.txt with majority labels')
    parser.add_argument('--num-classes', type=int, default=8, choices=(7, 8),
                        help='classes kept in the list files (7 drops Contempt)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    usage_to_key = {usage: key for key, (usage, _) in FERPLUS_SPLITS.items()}
    folders = {key: folder for key, (_, folder) in FERPLUS_SPLITS.items()}
    for folder in folders.values():
        os.makedirs(osp.join(args.out_dir, folder), exist_ok=True)
    label_files = {k: open(osp.join(args.out_dir, f, 'label.csv'), 'w', newline='')
                   for k, f in folders.items()}
    list_files = {k: open(osp.join(args.out_dir, f'ferplus_{k}.txt'), 'w')
                  for k in folders} if args.list else {}
    seen = {k: Counter() for k in folders}
    stats = OrderedDict((k, Counter()) for k in folders)
    try:
        for row in iter_fer_csv_pair(args.fer2013, args.ferplus):
            key = usage_to_key.get(row.usage)
            if key is None:
                raise ValueError(f'{args.ferplus}, line {row.ferplus_line}: Usage {row.usage!r}; '
                                 f'expected one of {list(usage_to_key)}')
            if not row.name:
                stats[key]['no name'] += 1
                continue
            votes = parse_votes(row.vote_fields, args.ferplus, row.ferplus_line)
            img = parse_fer_pixels(row.pixels, args.fer2013, row.fer2013_line)
            stem, ext = osp.splitext(row.name)
            dup = seen[key][row.name]
            seen[key][row.name] += 1
            name = row.name if dup == 0 else f'{stem}_dup{dup}{ext or ".png"}'
            stats[key]['duplicates renamed'] += int(dup > 0)
            path = osp.join(args.out_dir, folders[key], name)
            if not cv2.imwrite(path, img):
                raise OSError(f'could not write {path}; check the output folder')
            box = '"(0, 0, 48, 48)",' if args.box_column else ''
            label_files[key].write(f'{name},{box}' + ','.join(str(v) for v in votes) + '\n')
            stats[key]['images'] += 1
            if args.list:
                label = ferplus_majority_label(votes)
                if label is None or label >= args.num_classes:
                    stats[key]['not in list'] += 1
                    continue
                list_files[key].write(f'{folders[key]}/{name} {label}\n')
                stats[key]['list lines'] += 1
    finally:
        for f in list(label_files.values()) + list(list_files.values()):
            f.close()
    for key, c in stats.items():
        print(f'{folders[key]}: ' + ', '.join(f'{k} {v}' for k, v in sorted(c.items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
