"""Dump every shipped config fully resolved, and compare two such dumps.

    python tools/analysis/resolve_configs.py --out DIR [--root configs]
    python tools/analysis/resolve_configs.py --compare DIR_A DIR_B [--runner-view]

``--out``: for every ``ROOT/**/*.py`` outside ``_base_`` folders,
``Config.fromfile(path).to_dict()`` (``_base_`` inheritance, ``{{_base_.x}}`` references and
``_delete_`` applied) is written to
``DIR/<path relative to ROOT with / replaced by __>.json`` as JSON with sorted keys; values JSON
cannot hold (tuples become lists, anything else ``str(value)``) are converted the same way on
both sides of a comparison.  ``filename`` / ``text``-like bookkeeping is not part of ``to_dict``.

``--compare``: prints one line per config, ``identical`` or the dotted keys whose resolved value
differs (``key: A → B``, at most ``--max-values`` characters per value), plus the configs present
in only one dump.  Exit status 0 when every common config is identical and both dumps hold the
same configs, else 1.  Lists are compared element-wise, so a change in one pipeline step is
reported as e.g. ``test_pipeline[2].size``.  ``--runner-view`` compares what mmengine's Runner
builds: the top-level ``data_preprocessor`` merged into ``model`` where the model states none
(``Runner.__init__``: ``model.setdefault('data_preprocessor', data_preprocessor)``), on both sides.

Used to check that a refactor of the configs (shared bases, dropped repetitions) leaves every
resolved config as it was, or to list exactly what an intended change changed.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def config_files(root: str) -> List[str]:
    """Every ``*.py`` under ``root`` except those inside a ``_base_`` folder, sorted."""
    files = glob.glob(osp.join(root, '**', '*.py'), recursive=True)
    return sorted(f for f in files
                  if '_base_' not in osp.relpath(f, root).split(os.sep)[:-1])


def resolve(path: str) -> Dict[str, Any]:
    """``Config.fromfile(path).to_dict()`` made JSON-safe (tuples → lists, others → str)."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    return json.loads(json.dumps(cfg.to_dict(), sort_keys=True, default=str))


def dump(root: str, out: str) -> List[str]:
    """Write one JSON file per config of ``root`` into ``out``; returns the written names."""
    os.makedirs(out, exist_ok=True)
    names = []
    for f in config_files(root):
        name = osp.relpath(f, root).replace(os.sep, '__')[:-3] + '.json'
        with open(osp.join(out, name), 'w') as fh:
            json.dump(resolve(f), fh, sort_keys=True, indent=1, default=str)
        names.append(name)
    return names


def diff(a: Any, b: Any, prefix: str = '') -> List[Tuple[str, Any, Any]]:
    """Dotted keys (``x.y[2].z``) where the JSON values ``a`` and ``b`` differ, with both values
    (``'<absent>'`` where a key exists on one side only)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            key = f'{prefix}.{k}' if prefix else str(k)
            if k not in a:
                out.append((key, '<absent>', b[k]))
            elif k not in b:
                out.append((key, a[k], '<absent>'))
            else:
                out.extend(diff(a[k], b[k], key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff(x, y, f'{prefix}[{i}]'))
        return out
    return [] if a == b else [(prefix, a, b)]


def runner_view(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """``cfg`` with the top-level ``data_preprocessor`` set as ``model.data_preprocessor`` where
    the model has none — the model config mmengine's Runner (and :func:`mmfer.apis.build_model`)
    builds."""
    cfg = json.loads(json.dumps(cfg))
    model, pre = cfg.get('model'), cfg.get('data_preprocessor')
    if isinstance(model, dict) and pre is not None:
        model.setdefault('data_preprocessor', pre)
    return cfg


def _short(v: Any, n: int) -> str:
    s = json.dumps(v, sort_keys=True, default=str)
    return s if len(s) <= n else s[:n - 3] + '...'


def compare(dir_a: str, dir_b: str, max_values: int = 120,
            runner: bool = False) -> Tuple[int, List[str]]:
    """Compare two dumps (``runner``: through :func:`runner_view`); returns (number of configs
    that differ or are missing, report lines)."""
    for d in (dir_a, dir_b):
        if not osp.isdir(d):
            raise FileNotFoundError(f'{d}: no such dump directory; write one with '
                                    f'`python tools/analysis/resolve_configs.py --out {d}`')
    names_a = {f for f in os.listdir(dir_a) if f.endswith('.json')}
    names_b = {f for f in os.listdir(dir_b) if f.endswith('.json')}
    lines, bad = [], 0
    for name in sorted(names_a | names_b):
        cfg = name[:-5].replace('__', '/') + '.py'
        if name not in names_b:
            lines.append(f'{cfg}: only in {dir_a}')
            bad += 1
            continue
        if name not in names_a:
            lines.append(f'{cfg}: only in {dir_b}')
            bad += 1
            continue
        with open(osp.join(dir_a, name)) as fa, open(osp.join(dir_b, name)) as fb:
            a, b = json.load(fa), json.load(fb)
        d = diff(runner_view(a), runner_view(b)) if runner else diff(a, b)
        if not d:
            lines.append(f'{cfg}: identical')
            continue
        bad += 1
        lines.append(f'{cfg}: {len(d)} differing key(s)')
        for key, va, vb in d:
            lines.append(f'    {key}: {_short(va, max_values)} -> {_short(vb, max_values)}')
    return bad, lines


def parse_args(argv: Optional[List[str]] = None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--out', help='write one resolved JSON per config into this directory')
    g.add_argument('--compare', nargs=2, metavar=('DIR_A', 'DIR_B'),
                   help='compare two directories written by --out')
    p.add_argument('--root', default=osp.join(ROOT, 'configs'),
                   help='configs directory to resolve (default: the repository configs/)')
    p.add_argument('--runner-view', action='store_true',
                   help='compare the model the Runner builds (top-level data_preprocessor merged '
                        'into model where it has none)')
    p.add_argument('--max-values', type=int, default=120,
                   help='characters printed per differing value')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.out:
        if not osp.isdir(args.root):
            raise FileNotFoundError(f'--root {args.root}: no such directory')
        names = dump(args.root, args.out)
        print(f'wrote {len(names)} resolved configs to {args.out}')
        return 0
    bad, lines = compare(*args.compare, max_values=args.max_values,
                         runner=args.runner_view)
    print('\n'.join(lines))
    print(f'{len([x for x in lines if not x.startswith(" ")]) - bad} identical, {bad} different')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
