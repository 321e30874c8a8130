"""Plot training curves and compute training time from mmengine scalar logs.

    python tools/analysis/analyze_logs.py plot_curve WORK_DIR_OR_JSON [...]
        [--keys loss loss_ce fer/accuracy fer/mean_class_accuracy] --out curves.png
    python tools/analysis/analyze_logs.py cal_train_time WORK_DIR_OR_JSON [--include-first]

Reads ``vis_data/scalars.json`` (or ``vis_data/<timestamp>.json``) as written by mmengine's
LoggerHook; a work dir's runs are read in time order (see ``mmfer/visualization/curves.py``).

``plot_curve``: one panel per key; training keys over iterations, validation metrics over
epochs.  Several logs give one PNG each (``--out`` gets a ``_<i>`` suffix).

``cal_train_time``: from the ``time`` entry of training lines (seconds per iteration, averaged
by mmengine over its logging window): the mean per epoch, the slowest and fastest epoch, the
standard deviation across epochs and the overall mean.  The first logged line of a run is
skipped unless ``--include-first`` (it contains start-up cost).
"""
import argparse
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description='Analyse mmengine scalar logs of mmfer runs')
    sub = parser.add_subparsers(dest='task', required=True)
    p = sub.add_parser('plot_curve', help='plot loss / accuracy curves to a PNG')
    p.add_argument('logs', nargs='+', help='work dir, vis_data folder or scalars.json')
    p.add_argument('--keys', nargs='+', default=None,
                   help='keys to plot (default: every loss* key, fer/accuracy and '
                        'fer/mean_class_accuracy when logged)')
    p.add_argument('--out', required=True, help='output PNG')
    p.add_argument('--title', default=None, help='figure title')
    t = sub.add_parser('cal_train_time', help='average training iteration time per epoch')
    t.add_argument('logs', nargs='+', help='work dir, vis_data folder or scalars.json')
    t.add_argument('--include-first', action='store_true',
                   help='include the first logged iteration of each run')
    return parser.parse_args(argv)


def train_time_stats(lines: List[dict], include_first: bool = False) -> Dict[str, float]:
    """Per-epoch mean of ``time`` over training lines, and summary statistics.

    Returns a dict with ``epoch_means`` ({epoch: s/iter}), ``slowest_epoch``,
    ``fastest_epoch``, ``std_over_epochs`` (population std, 0 for one epoch) and
    ``mean_iter_time`` (mean over all used lines).
    """
    train = [r for r in lines if 'iter' in r and 'time' in r]
    if not include_first and train:
        train = train[1:]
    if not train:
        raise ValueError('no training lines with a "time" entry in the log (need lines with '
                         '"iter" and "time"; use --include-first for a one-line log)')
    per_epoch: Dict[int, List[float]] = {}
    for r in train:
        per_epoch.setdefault(int(r.get('epoch', 0)), []).append(float(r['time']))
    means = {e: statistics.fmean(v) for e, v in sorted(per_epoch.items())}
    return dict(
        epoch_means=means,
        slowest_epoch=max(means, key=means.get),
        fastest_epoch=min(means, key=means.get),
        std_over_epochs=statistics.pstdev(means.values()) if len(means) > 1 else 0.0,
        mean_iter_time=statistics.fmean(float(r['time']) for r in train),
    )


def main(argv: Optional[List[str]] = None):
    """Run the tool; returns the plotted series (plot_curve) or the statistics
    (cal_train_time), one entry per log."""
    args = parse_args(argv)
    from mmfer.visualization.curves import load_scalars, plot_curves
    out = []
    for i, log in enumerate(args.logs):
        if args.task == 'plot_curve':
            if len(args.logs) == 1:
                png = args.out
            else:
                root, ext = osp.splitext(args.out)
                png = f'{root}_{i}{ext or ".png"}'
            series = plot_curves(log, png, keys=args.keys, title=args.title)
            for k, (steps, values) in series.items():
                print(f'{log}: {k}: {len(steps)} points, last {values[-1]:.4f} at step '
                      f'{steps[-1]}')
            print(f'wrote {png}')
            out.append(series)
        else:
            stats = train_time_stats(load_scalars(log), args.include_first)
            means = stats['epoch_means']
            print(f'-----Analyze train time of {log}-----')
            for e, m in means.items():
                print(f'epoch {e}: {m:.4f} s/iter')
            print(f'slowest epoch {stats["slowest_epoch"]}, average time is '
                  f'{means[stats["slowest_epoch"]]:.4f} s/iter')
            print(f'fastest epoch {stats["fastest_epoch"]}, average time is '
                  f'{means[stats["fastest_epoch"]]:.4f} s/iter')
            print(f'time std over epochs is {stats["std_over_epochs"]:.4f}')
            print(f'average iter time: {stats["mean_iter_time"]:.4f} s/iter')
            out.append(stats)
    return out


if __name__ == '__main__':
    main(sys.argv[1:])
