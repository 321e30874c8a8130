"""Train and test the rows of a SynthFER result table as one command.

    python tools/analysis/run_table.py TABLE [--work-root work_dirs/tables] [--rows R ...]
        [--data-root data/synthfer_rafdb] [--retrain] [--dry-run] [--out table.md]

A table is a list of rows; each row trains one config with ``tools/train.py`` (in
``WORK_ROOT/TABLE/ROW``, wall time recorded in ``train_wall.json``) and then tests the final
checkpoint with one or more test configs through ``tools/test.py`` (each in
``WORK_ROOT/TABLE/ROW/test_LABEL``, metrics in its ``metrics.json``).  A row whose run is
complete (``train_wall.json`` with return code 0 and ``last_checkpoint``) is not trained again
unless ``--retrain``; tests are re-run every time (they are cheap).  The summary table (Markdown)
is printed and written, with every figure, to ``WORK_ROOT/TABLE/table.json`` and ``table.md``
(or ``--out``).  Validation accuracy per epoch (``vis_data/scalars.json``, the clean SynthFER
test split for every table below) gives the best epoch and the mean of the last 5 epochs
(``mmfer.evaluation.memorisation.last_epochs_summary``), the EAC reporting of noisy-label runs.

Tables (``--list`` prints them):

- ``dacfer_synthfer``: baseline (Caffe ResNet-50 + CE) / LAC (SE-ResNet-50 + CE) / DacFER
  (+ CAM flip consistency) at 0 % and 30 % label noise (issue: DacFER table); the noisy rows
  also run the config's memorisation test (noisy training split, ``MemorisationMetric``).
- ``lan_synthfer``: the ResNet-18 baseline and LAN, each tested on the full SynthFER test split
  and on its |yaw| > 30° / > 45° subsets (``PoseSubset``).
- ``pcda_synthfer``: PCDA + NeAA, without NeAA, without the landmark product, without both;
  next to the ResNet-18 baseline and DAN trained with the same 5-epoch schedule (Adam 1e-3,
  batch 64, cosine, 64×64 input: their configs with ``train_cfg.max_epochs=5``).

Every process inherits ``OMP_NUM_THREADS`` (default 2 here); rows run one after the other.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _row(name, config, tests, label=None, train_options=()):
    """``train_options``: ``--cfg-options`` of the training run only (e.g. a shorter schedule
    for a baseline that shares the table's budget); the tests read the checkpoint it wrote."""
    return dict(name=name, config=config, tests=tests, label=label or name,
                train_options=list(train_options))


#: the 5-epoch budget of the PCDA SynthFER configs, for the ResNet-18 rows of that table
_5EP = ['train_cfg.max_epochs=5', 'param_scheduler.T_max=5']


_DAC = 'configs/dacfer/'
_LAN = 'configs/lan/'
_PCDA = 'configs/pcda/'

TABLES = {
    'dacfer_synthfer': [
        _row('baseline_r50', _DAC + 'baseline_r50_synthfer.py',
             [('test', _DAC + 'baseline_r50_synthfer.py')], 'baseline (ResNet-50, CE), 0 %'),
        _row('lac_se50', _DAC + 'lac_se50_synthfer.py',
             [('test', _DAC + 'lac_se50_synthfer.py')], 'LAC (SE-ResNet-50, CE), 0 %'),
        _row('dacfer_se50', _DAC + 'dacfer_se50_synthfer.py',
             [('test', _DAC + 'dacfer_se50_synthfer.py')], 'DacFER (LAC + GAC), 0 %'),
        _row('baseline_r50_noise30', _DAC + 'baseline_r50_synthfer_noise30.py',
             [('test', _DAC + 'baseline_r50_synthfer.py'),
              ('memo', _DAC + 'baseline_r50_synthfer_noise30.py')], 'baseline, 30 % noise'),
        _row('lac_se50_noise30', _DAC + 'lac_se50_synthfer_noise30.py',
             [('test', _DAC + 'lac_se50_synthfer.py'),
              ('memo', _DAC + 'lac_se50_synthfer_noise30.py')], 'LAC, 30 % noise'),
        _row('dacfer_se50_noise30', _DAC + 'dacfer_se50_synthfer_noise30.py',
             [('test', _DAC + 'dacfer_se50_synthfer.py'),
              ('memo', _DAC + 'dacfer_se50_synthfer_noise30.py')], 'DacFER, 30 % noise'),
    ],
    'lan_synthfer': [
        _row('baseline_r18', 'configs/baseline/r18_synthfer.py',
             [('test', 'configs/baseline/r18_synthfer.py'),
              ('pose30', _LAN + 'baseline_r18_synthfer_pose30.py'),
              ('pose45', _LAN + 'baseline_r18_synthfer_pose45.py')], 'ResNet-18 baseline'),
        _row('lan_r18', _LAN + 'lan_r18_synthfer.py',
             [('test', _LAN + 'lan_r18_synthfer.py'),
              ('pose30', _LAN + 'lan_r18_synthfer_pose30.py'),
              ('pose45', _LAN + 'lan_r18_synthfer_pose45.py')], 'LAN (ResNet-18)'),
    ],
    'pcda_synthfer': [
        _row('baseline_r18_5ep', 'configs/baseline/r18_synthfer.py',
             [('test', 'configs/baseline/r18_synthfer.py')], 'ResNet-18 baseline, 5 epochs',
             _5EP),
        _row('dan_r18_5ep', 'configs/dan/dan_r18_synthfer.py',
             [('test', 'configs/dan/dan_r18_synthfer.py')], 'DAN (ResNet-18), 5 epochs', _5EP),
        _row('pcda', _PCDA + 'pcda_ir50_synthfer.py',
             [('test', _PCDA + 'pcda_ir50_synthfer.py')], 'PCDA + NeAA'),
        _row('no_neaa', _PCDA + 'pcda_ir50_synthfer_no-neaa.py',
             [('test', _PCDA + 'pcda_ir50_synthfer_no-neaa.py')], 'PCDA, no NeAA (CE only)'),
        _row('no_product', _PCDA + 'pcda_ir50_synthfer_no-product.py',
             [('test', _PCDA + 'pcda_ir50_synthfer_no-product.py')],
             'no landmark product (+ NeAA)'),
        _row('no_product_no_neaa', _PCDA + 'pcda_ir50_synthfer_no-product-no-neaa.py',
             [('test', _PCDA + 'pcda_ir50_synthfer_no-product-no-neaa.py')],
             'no landmark product, no NeAA'),
    ],
}

# metrics.json keys shown per test label
_SHOW = [('fer/accuracy', 'acc'), ('fer/mean_class_accuracy', 'mean class'),
         ('fer/macro_f1', 'macro F1')]
_MEMO = [('noise/memorisation', 'memorisation'), ('noise/correction', 'correction')]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train + test the rows of a SynthFER result table')
    p.add_argument('table', nargs='?', choices=sorted(TABLES), help='which table')
    p.add_argument('--list', action='store_true', help='print the tables and their rows')
    p.add_argument('--work-root', default='work_dirs/tables',
                   help='runs go to WORK_ROOT/TABLE/ROW (default work_dirs/tables)')
    p.add_argument('--rows', nargs='+', default=None, help='only these rows (default: all)')
    p.add_argument('--data-root', default=None,
                   help='SynthFER folder (RAF-DB layout) if not the configs\' data/synthfer_rafdb')
    p.add_argument('--retrain', action='store_true', help='train even a completed row again')
    p.add_argument('--dry-run', action='store_true', help='print the commands only')
    p.add_argument('--out', default=None, help='Markdown file of the table (default '
                   'WORK_ROOT/TABLE/table.md)')
    p.add_argument('--python', default=sys.executable, help='interpreter for the tools')
    return p.parse_args(argv)


def _data_opts(data_root, extra=()):
    opts = list(extra)
    if data_root:
        opts += [f'{s}_dataloader.dataset.data_root={data_root}' for s in ('train', 'val', 'test')]
    return ['--cfg-options'] + opts if opts else []


def _run(cmd, log_path, dry_run):
    print('[run_table] $ ' + ' '.join(cmd), flush=True)
    if dry_run:
        return 0, 0.0
    start = time.time()
    with open(log_path, 'w') as log:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                             env=dict(os.environ, OMP_NUM_THREADS=os.environ.get(
                                 'OMP_NUM_THREADS', '2')))
    return rc, time.time() - start


def _complete(work):
    wall = osp.join(work, 'train_wall.json')
    if not (osp.isfile(wall) and osp.isfile(osp.join(work, 'last_checkpoint'))):
        return None
    with open(wall) as f:
        info = json.load(f)
    return info if info.get('returncode') == 0 else None


def _checkpoint(work):
    with open(osp.join(work, 'last_checkpoint')) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(ROOT, path)


def _val_summary(work):
    from mmfer.evaluation.memorisation import last_epochs_summary
    logs = sorted(d for d in os.listdir(work) if d[:1] == '2' and
                  osp.isfile(osp.join(work, d, 'vis_data', 'scalars.json')))
    if not logs:
        return None
    # the validation records of every run in the folder (a resumed run logs in a new one)
    records = []
    for d in logs:
        with open(osp.join(work, d, 'vis_data', 'scalars.json')) as f:
            records += [json.loads(line) for line in f if line.strip()]
    try:
        return last_epochs_summary(records, 'fer/accuracy', k=5)
    except KeyError:
        return None


def run_row(row, table_dir, args):
    work = osp.join(table_dir, row['name'])
    os.makedirs(work, exist_ok=True)
    done = None if args.retrain else _complete(work)
    result = dict(name=row['name'], label=row['label'], config=row['config'], tests={})
    if done is None:
        cmd = [args.python, 'tools/train.py', row['config'], '--work-dir', work] + \
            _data_opts(args.data_root, row.get('train_options', []))
        rc, wall = _run(cmd, osp.join(work, 'train_stdout.log'), args.dry_run)
        if args.dry_run:
            done = dict(train_wall_s=0.0, returncode=0)
        else:
            done = dict(config=row['config'], train_wall_s=round(wall, 1), returncode=rc)
            with open(osp.join(work, 'train_wall.json'), 'w') as f:
                json.dump(done, f, indent=1)
            if rc != 0:
                raise SystemExit(f'[run_table] training {row["config"]} failed (exit {rc}); '
                                 f'see {osp.join(work, "train_stdout.log")}')
    else:
        print(f'[run_table] {row["name"]}: complete run in {work}, not retrained '
              f'(--retrain to train again)')
    result['train_wall_s'] = done['train_wall_s']
    if args.dry_run:
        ckpt = osp.join(work, 'epoch_N.pth')
    else:
        ckpt = _checkpoint(work)
        result['checkpoint'] = osp.relpath(ckpt, ROOT)
        result['val'] = _val_summary(work)
    for label, cfg in row['tests']:
        test_dir = osp.join(work, f'test_{label}')
        os.makedirs(test_dir, exist_ok=True)
        cmd = [args.python, 'tools/test.py', cfg, ckpt, '--work-dir', test_dir] + \
            _data_opts(args.data_root)
        rc, _ = _run(cmd, osp.join(test_dir, 'test_stdout.log'), args.dry_run)
        if args.dry_run:
            continue
        if rc != 0:
            raise SystemExit(f'[run_table] testing {cfg} failed (exit {rc}); see '
                             f'{osp.join(test_dir, "test_stdout.log")}')
        with open(osp.join(test_dir, 'metrics.json')) as f:
            result['tests'][label] = dict(config=cfg, metrics=json.load(f)['metrics'])
    return result


def _fmt(v):
    return '–' if v is None else f'{v:.2f}'


def to_markdown(table, results) -> str:
    labels = []
    for r in results:
        for lab in r['tests']:
            if lab not in labels:
                labels.append(lab)
    head = ['row']
    for lab in labels:
        keys = _MEMO if lab == 'memo' else _SHOW
        head += [f'{lab} {name}' for _, name in keys]
    head += ['val best (epoch)', 'val last-5 mean', 'train wall']
    lines = [f'SynthFER table `{table}` (tools/analysis/run_table.py {table})', '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' + '---:|' * (len(head) - 1)]
    for r in results:
        cells = [r['label']]
        for lab in labels:
            keys = _MEMO if lab == 'memo' else _SHOW
            m = r['tests'].get(lab, {}).get('metrics', {})
            cells += [_fmt(m.get(k)) for k, _ in keys]
        v = r.get('val')
        cells += [f'{v["best"]:.2f} ({v["best_epoch"]})' if v else '–',
                  f'{v["last_k_mean"]:.2f}' if v else '–']
        w = r['train_wall_s']
        cells.append(f'{int(w) // 60} min {int(w) % 60:02d} s')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
    if args.list or args.table is None:
        for name, rows in TABLES.items():
            print(name)
            for r in rows:
                print(f'  {r["name"]:<22} {r["config"]}  tests: '
                      + ', '.join(lab for lab, _ in r['tests']))
        return 0 if args.list else 2
    rows = TABLES[args.table]
    if args.rows:
        unknown = set(args.rows) - {r['name'] for r in rows}
        if unknown:
            raise SystemExit(f'[run_table] unknown rows {sorted(unknown)} of {args.table}; '
                             f'it has {[r["name"] for r in rows]}')
        rows = [r for r in rows if r['name'] in args.rows]
    missing = [c for r in rows for c in [r['config']] + [t for _, t in r['tests']]
               if not osp.isfile(osp.join(ROOT, c))]
    if missing:
        raise SystemExit(f'[run_table] missing configs: {missing}')
    table_dir = osp.join(args.work_root, args.table)
    os.makedirs(table_dir, exist_ok=True)
    results = [run_row(r, table_dir, args) for r in rows]
    if args.dry_run:
        return 0
    md = to_markdown(args.table, results)
    print(md)
    with open(osp.join(table_dir, 'table.json'), 'w') as f:
        json.dump(dict(table=args.table, rows=results), f, indent=1)
    with open(args.out or osp.join(table_dir, 'table.md'), 'w') as f:
        f.write(md)
    return 0


if __name__ == '__main__':
    sys.exit(main())
