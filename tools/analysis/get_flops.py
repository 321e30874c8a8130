"""Parameters and MACs of a config's inference forward, per module.

    python tools/analysis/get_flops.py CONFIG [--shape 224 | --shape H W] [--per-module]
        [--depth 3] [--out result.json] [--cfg-options key=value ...]

Builds ``cfg.model`` under ``default_scope='mmfer'`` (random weights), runs
``model(inputs, mode='tensor')`` once on one random 1×3×H×W image in eval mode, and reports

- MACs = multiply–accumulates of convolutions and matrix products (incl. attention), counted
  with ``torch.utils.flop_counter.FlopCounterMode`` (its FLOPs / 2), over the whole forward
  (backbone, neck, head) and only over modules that run (see ``mmfer/utils/flops.py``);
- parameters: all registered, the model without loss state, those the inference forward reads
  (headline; training-only branches excluded) and the thop-style executed-leaf-module count;
- a table per top-level module (backbone / neck / head), and with ``--per-module`` per
  sub-module down to ``--depth``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(
        description='Count parameters and MACs (conv + matmul multiply-accumulates) of the '
                    'inference forward of a config\'s model, per module.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=[224],
                        help='input size: one int (square) or H W. Default 224')
    parser.add_argument('--per-module', action='store_true',
                        help='also print every sub-module down to --depth')
    parser.add_argument('--depth', type=int, default=3,
                        help='deepest module level printed with --per-module (default 3)')
    parser.add_argument('--out', help='write the full result (all modules) to this JSON file')
    parser.add_argument('--device', default='cpu', help='device to run the forward on')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.neck.num_heads=2')
    args = parser.parse_args(argv)
    if len(args.shape) == 1:
        args.shape = [args.shape[0], args.shape[0]]
    elif len(args.shape) != 2:
        parser.error(f'--shape takes 1 or 2 integers (H [W]), got {args.shape}')
    return args


def _table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: '  '.join(  # noqa: E731
        str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines = [fmt(header), '-' * len(fmt(header))]
    lines += [fmt(r) for r in rows]
    return '\n'.join(lines)


def format_result(res, config: str, per_module: bool = False, depth: int = 3) -> str:
    """Human-readable report of a :class:`mmfer.utils.flops.FlopsResult`."""
    from mmfer.utils.flops import format_count
    total = res.macs or 1
    header = ['module', 'type', 'ran', 'params (inference)', 'params (registered)', 'MACs',
              '% MACs']

    def row(m, indent=''):
        return [indent + m.name, m.type, 'yes' if m.executed else 'no',
                f'{m.params_inference:,}', f'{m.params_registered:,}', format_count(m.macs),
                f'{100 * m.macs / total:.2f}']

    out = [f'config: {config}', f'input: {"x".join(map(str, res.input_shape))}', '']
    rows = [row(m) for m in res.top_level()]
    p = res.params
    rows.append(['total', '', '', f'{p["inference"]:,}', f'{p["registered"]:,}',
                 format_count(res.macs), '100.00'])
    out.append(_table(rows, header))
    if res.unattributed:
        out.append(f'MACs in modules not registered in the model tree: {res.unattributed}')
    if per_module:
        rows = [row(m, '  ' * (m.depth - 1)) for m in res.modules
                if 1 <= m.depth <= depth and (m.executed or m.params_registered)]
        out += ['', f'per module (depth <= {depth}; MACs include children):',
                _table(rows, header)]
    out += [
        '',
        f'MACs: {res.macs:,} ({format_count(res.macs)}MACs; FLOPs = 2 x MACs = '
        f'{format_count(res.flops)}FLOPs). Conv + matmul multiply-accumulates of the modules '
        f'that ran.',
        'MACs by operator: ' + ', '.join(f'{k} {format_count(v)}'
                                         for k, v in sorted(res.macs_by_op.items())),
        f'params, read by the inference forward: {p["inference"]:,} '
        f'(trainable {p["inference_trainable"]:,})',
        f'params, all registered: {p["registered"]:,}; without loss state: {p["model"]:,}; '
        f'thop-style (executed leaf modules): {p["leaf_executed"]:,}',
    ]
    if res.unread_params:
        shown = ', '.join(res.unread_params[:8])
        more = f' ... (+{len(res.unread_params) - 8})' if len(res.unread_params) > 8 else ''
        out.append(f'not used at inference ({len(res.unread_params)} tensors): {shown}{more}')
    return '\n'.join(out)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the tool; returns the result dict (what ``--out`` writes)."""
    args = parse_args(argv)
    from mmfer.apis import build_model
    from mmfer.utils.flops import count_model_flops, load_config
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.device)
    res = count_model_flops(model, (3, ) + tuple(args.shape), batch_size=1, device=args.device)
    print(format_result(res, args.config, args.per_module, args.depth))
    result = dict(config=args.config, **res.to_dict())
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
        print(f'wrote {args.out}')
    return result


if __name__ == '__main__':
    main(sys.argv[1:])
