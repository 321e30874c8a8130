"""Training curves from mmengine's scalar logs.

mmengine's ``LoggerHook`` + ``LocalVisBackend`` write one JSON object per line to
``<work_dir>/<timestamp>/vis_data/scalars.json`` (and the same lines to
``vis_data/<timestamp>.json``):

- training lines: ``{"lr": .., "data_time": .., "loss": .., "loss_ce": .., "time": ..,
  "epoch": e, "iter": i, "step": i}`` — ``step`` is the global iteration;
- validation lines: ``{"fer/accuracy": .., "fer/mean_class_accuracy": .., ..., "data_time": ..,
  "time": .., "step": e}`` — ``step`` is the epoch (``log_metric_by_epoch=True``, the default).

:func:`load_scalars` reads such a file, a ``vis_data`` folder or a whole work dir (all runs in
time order, so a resumed training is one curve; a later run's value replaces an earlier one at
the same step).  :func:`plot_curves` draws one panel per key (matplotlib, Agg backend).
"""
import glob
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ['find_scalar_files', 'load_scalars', 'split_series', 'default_keys', 'plot_curves']

DEFAULT_METRICS = ('fer/accuracy', 'fer/mean_class_accuracy')


def find_scalar_files(path: str) -> List[str]:
    """The scalar JSON file(s) that ``path`` designates, oldest run first.

    ``path`` may be a ``.json`` file, a ``vis_data`` folder, a run folder
    (``<work_dir>/<timestamp>``) or a work dir holding several runs.
    """
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'no such log file or folder: {path}; pass a work dir, a '
                                f'vis_data folder or a scalars.json file')
    for pattern in ('scalars.json', 'vis_data/scalars.json', '*/vis_data/scalars.json'):
        found = sorted(glob.glob(osp.join(path, pattern)))
        if found:
            return found
    raise FileNotFoundError(f'{path}: no scalars.json found (looked for scalars.json, '
                            f'vis_data/scalars.json and */vis_data/scalars.json); was the run '
                            f'logged with LocalVisBackend?')


def load_scalars(path: str) -> List[dict]:
    """All log lines of the run(s) under ``path`` (see :func:`find_scalar_files`), each a dict.

    Raises:
        ValueError: a line is not valid JSON (names file and line number).
    """
    lines = []
    for file in find_scalar_files(path):
        with open(file) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f'{file}:{lineno}: not a JSON object ({e.msg}); expected '
                                     f'mmengine scalar log lines') from e
                if not isinstance(rec, dict) or 'step' not in rec:
                    raise ValueError(f'{file}:{lineno}: expected a JSON object with a "step" '
                                     f'entry (mmengine scalar log line), got {line[:80]}')
                lines.append(rec)
    return lines


def _is_train(rec: dict) -> bool:
    # mmengine adds `iter` (and `epoch`) to training lines only
    return 'iter' in rec


def split_series(lines: Sequence[dict], key: str) -> Tuple[List[float], List[float], str]:
    """(steps, values, x label) of ``key``; a later line replaces an earlier one at the same
    step (resumed runs)."""
    series: Dict[float, float] = {}
    kind = None
    for rec in lines:
        if key in rec and isinstance(rec[key], (int, float)):
            series[rec['step']] = float(rec[key])
            kind = kind or ('iteration' if _is_train(rec) else 'epoch')
    if not series:
        raise KeyError(f'key {key!r} not found in the log; available: {available_keys(lines)}')
    steps = sorted(series)
    return steps, [series[s] for s in steps], kind


def available_keys(lines: Sequence[dict]) -> List[str]:
    skip = {'step', 'epoch', 'iter'}
    keys = []
    for rec in lines:
        for k, v in rec.items():
            if k not in skip and k not in keys and isinstance(v, (int, float)):
                keys.append(k)
    return keys


def default_keys(lines: Sequence[dict]) -> List[str]:
    """Every ``loss*`` key, then accuracy and mean class accuracy when logged."""
    keys = available_keys(lines)
    return [k for k in keys if k.startswith('loss')] + [k for k in DEFAULT_METRICS if k in keys]


def plot_curves(scalars_json: str, out_file: str, keys: Optional[Sequence[str]] = None,
                title: Optional[str] = None, dpi: int = 100) -> Dict[str, Tuple[list, list]]:
    """Plot each key of a scalar log against its step into one PNG (one panel per key, two
    panels per row, 6×3.5 in each).  Training keys are plotted against the iteration,
    validation metrics against the epoch.

    Args:
        scalars_json: a scalars.json / <timestamp>.json file, vis_data folder or work dir.
        out_file: PNG path (parent folders are created).
        keys: keys to plot; default :func:`default_keys`.
        title: figure title; default the log path.

    Returns:
        ``{key: (steps, values)}`` as plotted.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    lines = load_scalars(scalars_json)
    keys = list(keys) if keys else default_keys(lines)
    if not keys:
        raise KeyError(f'{scalars_json}: nothing to plot; available keys: '
                       f'{available_keys(lines)}')
    data = {k: split_series(lines, k) for k in keys}
    ncols = 1 if len(keys) == 1 else 2
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 3.5 * nrows), dpi=dpi,
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        steps, values, xlabel = data[key]
        ax.plot(steps, values, marker='o' if len(steps) <= 30 else None, markersize=3)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis('off')
    fig.suptitle(title or scalars_json, fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=dpi)
    plt.close(fig)
    return {k: (v[0], v[1]) for k, v in data.items()}
