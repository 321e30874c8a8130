"""Inference latency / throughput and training-step throughput of one or more configs.

    python tools/analysis/benchmark.py CONFIG [CONFIG ...] [--device cpu|cuda]
        [--batch-size 1] [--train] [--train-batch-size 16] [--shape 224 | H W | config]
        [--warmup 5] [--iters 20] [--num-threads N] [--out result.json|result.md]

For every config the model is built under ``default_scope='mmfer'`` (random weights) and fed
random data in the format a dataloader produces (uint8 images + ``DataSample``s with random
``gt_label``), which the model's own ``data_preprocessor`` normalises:

- **params / GMACs**: parameters read by the inference forward and its MACs per image, as
  ``get_flops.py`` counts them (``mmfer.utils.flops``);
- **inference**: ``model.test_step(data)`` in eval mode under ``torch.no_grad`` (pre-processing
  + ``predict``), ``--batch-size`` images per call; reported as latency per image (median and
  90th percentile of the per-call time divided by the batch size, ms/img) and throughput
  (batch size / median call time, img/s);
- **training** (``--train``): one full optimizer step, ``model.train_step(data, optim_wrapper)``
  with the optim_wrapper built from the config's ``optim_wrapper`` (so SAM's two passes, AMP,
  gradient clipping are included); reported as samples/s (= batch / median step time).  A
  model with a ``num_branches`` attribute > 1 (e.g. QCS) gets N×V×3×H×W training inputs; one
  sample is then V images, and img/s = V × samples/s is reported too.  Label fields a
  training step needs besides ``gt_label`` (QCS: ``neg_label``, the negatives' class) are
  filled with random labels: those named by ``--label-fields`` and by a model attribute
  ``train_label_fields``.

Every measurement runs ``--warmup`` untimed iterations first; times are medians over
``--iters`` iterations, with ``torch.cuda.synchronize`` around each timed call on CUDA.
Several configs are measured in one run, side by side, with ratios to the first one.
``--shape config`` gives each config its own test-time input size (the last ``CenterCrop`` /
``Resize`` of its test pipeline, e.g. 112 for PCDA and 224 for POSTER++), so models fed at
different resolutions are compared as they are used; the size is a column of the table.
"""
import argparse
import gc
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import List, Optional

from mmengine.config import DictAction

# torch / numpy are imported where used, so that `--help` stays fast


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(
        description='Benchmark inference latency/throughput and training-step throughput of '
                    'one or more configs on random data.')
    parser.add_argument('configs', nargs='+', help='config file(s); ratios are to the first')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per inference call (default 1: latency)')
    parser.add_argument('--train', action='store_true', help='also time training steps')
    parser.add_argument('--train-batch-size', type=int, default=16,
                        help='samples per training step (default 16)')
    parser.add_argument('--shape', nargs='+', default=['224'],
                        help="input size: one int (square), H W, or 'config' (each config's "
                             'test-pipeline size). Default 224')
    parser.add_argument('--warmup', type=int, default=5, help='untimed iterations (default 5)')
    parser.add_argument('--iters', type=int, default=20, help='timed iterations (default 20)')
    parser.add_argument('--num-threads', type=int, default=None,
                        help='torch.set_num_threads (CPU intra-op threads)')
    parser.add_argument('--label-fields', nargs='+', default=[],
                        help='extra per-sample label fields the model\'s training step reads, '
                             'filled with random labels (e.g. neg_label for QCS); added to '
                             'those a model lists in its `train_label_fields` attribute')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random data')
    parser.add_argument('--out', help='write results to a .json or .md file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override entries of every config')
    args = parser.parse_args(argv)
    if args.shape == ['config']:
        args.shape = None  # per config: config_input_shape
    else:
        try:
            args.shape = [int(v) for v in args.shape]
        except ValueError:
            parser.error(f"--shape takes 1 or 2 integers (H [W]) or 'config', got {args.shape}")
        if len(args.shape) == 1:
            args.shape = [args.shape[0], args.shape[0]]
        elif len(args.shape) != 2:
            parser.error(f'--shape takes 1 or 2 integers (H [W]), got {args.shape}')
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0')
    if args.out and not args.out.endswith(('.json', '.md')):
        parser.error(f'--out must end with .json or .md, got {args.out}')
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            parser.error('--device cuda requested but torch.cuda.is_available() is False')
    return args


def num_classes_of(model) -> int:
    """Number of classes of a classifier (``num_classes`` of the model, its head or its
    data preprocessor)."""
    for obj in (model, getattr(model, 'head', None), getattr(model, 'data_preprocessor', None)):
        n = getattr(obj, 'num_classes', None) if obj is not None else None
        if isinstance(n, int) and n > 0:
            return n
    raise AttributeError(f'{type(model).__name__}: cannot tell the number of classes (no '
                         f'num_classes on the model, its head or its data_preprocessor)')


def num_views_of(model) -> int:
    """Views per training sample: the model's ``num_branches`` (QCS) or ``num_views``
    (MultiViewClassifier, e.g. DacFER) attribute, else 1."""
    v = getattr(model, 'num_branches', getattr(model, 'num_views', 1))
    return int(v) if v else 1


def random_batch(model, batch_size: int, shape, num_views: int = 1, device='cpu',
                 seed: int = 0, label_fields=()) -> dict:
    """A batch as a dataloader delivers it: ``inputs`` uint8 N×3×H×W (or N×V×3×H×W for
    ``num_views`` > 1) and ``data_samples`` with random ``gt_label`` in [0, num_classes), plus
    every field of ``label_fields`` as a random 1-element long tensor in the same range."""
    import torch
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    size = (batch_size, ) + ((num_views, ) if num_views > 1 else ()) + (3, ) + tuple(shape)
    inputs = torch.randint(0, 256, size, generator=gen, dtype=torch.uint8).to(device)
    num_classes = num_classes_of(model)
    labels = torch.randint(0, num_classes, (batch_size, ), generator=gen)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    for name in label_fields:
        extra = torch.randint(0, num_classes, (batch_size, 1), generator=gen)
        for ds, y in zip(samples, extra):
            ds.set_field(y.long(), name)
    return dict(inputs=inputs, data_samples=samples)


def config_input_shape(cfg) -> list:
    """[H, W] a config's test pipeline feeds the model (``test_dataloader``, else
    ``val_dataloader``): :func:`mmfer.apis.fer_inferencer.pipeline_input_size`, the size
    ``FERInferencer`` crops faces to."""
    from mmfer.apis.fer_inferencer import pipeline_input_size
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    size = pipeline_input_size((loader.get('dataset') or {}).get('pipeline'))
    if size is None:
        raise KeyError(f'{cfg.filename}: no CenterCrop / Resize in the test pipeline to take the '
                       'input size from; give --shape H W')
    return list(size)


def train_label_fields(model, extra=()) -> list:
    """Label fields a training step reads besides ``gt_label``: the model's
    ``train_label_fields`` attribute (if any) and ``extra`` (``--label-fields``)."""
    fields = list(getattr(model, 'train_label_fields', ()) or ())
    return fields + [f for f in extra if f not in fields]


def _timed(fn, warmup: int, iters: int, device: str) -> List[float]:
    """Seconds per call of ``fn`` for ``iters`` calls after ``warmup`` untimed ones."""
    import torch
    cuda = device == 'cuda'
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def benchmark_inference(model, batch_size: int, shape, warmup: int, iters: int,
                        device: str = 'cpu', seed: int = 0) -> dict:
    """Latency (ms/img, median and p90) and throughput (img/s) of ``model.test_step``."""
    import numpy as np
    import torch
    data = random_batch(model, batch_size, shape, 1, device, seed)
    model.eval()
    with torch.no_grad():
        times = _timed(lambda: model.test_step(data), warmup, iters, device)
    per_img = np.array(times) / batch_size * 1e3
    med = statistics.median(times)
    return dict(batch_size=batch_size, iters=iters, warmup=warmup,
                latency_ms_median=float(np.median(per_img)),
                latency_ms_p90=float(np.percentile(per_img, 90)),
                throughput_img_s=batch_size / med)


def benchmark_train(model, optim_wrapper, batch_size: int, shape, warmup: int, iters: int,
                    device: str = 'cpu', seed: int = 0, label_fields=()) -> dict:
    """Samples/s of full optimizer steps ``model.train_step(data, optim_wrapper)``."""
    import numpy as np
    import torch
    views = num_views_of(model)
    data = random_batch(model, batch_size, shape, views, device, seed,
                        train_label_fields(model, label_fields))
    model.train()
    times = _timed(lambda: model.train_step(data, optim_wrapper), warmup, iters, device)
    med = statistics.median(times)
    return dict(batch_size=batch_size, num_views=views, iters=iters, warmup=warmup,
                step_ms_median=med * 1e3, step_ms_p90=float(np.percentile(times, 90)) * 1e3,
                throughput_samples_s=batch_size / med,
                throughput_img_s=batch_size * views / med)


def benchmark_config(config: str, args) -> dict:
    import torch
    from mmengine.optim import build_optim_wrapper

    from mmfer.apis import build_model
    from mmfer.utils.flops import count_model_flops, load_config
    cfg = load_config(config, args.cfg_options)
    model = build_model(cfg, args.device)
    torch.manual_seed(args.seed)
    shape = list(args.shape) if args.shape else config_input_shape(cfg)
    # parameters read by the inference forward and its MACs per image (get_flops' numbers)
    counted = count_model_flops(model, (3, ) + tuple(shape), device=args.device)
    res = dict(config=config, model=type(model).__name__, shape=shape,
               params=counted.params['inference'], params_model=counted.params['model'],
               macs=counted.macs)
    res['inference'] = benchmark_inference(model, args.batch_size, shape, args.warmup,
                                           args.iters, args.device, args.seed)
    if args.train:
        if 'optim_wrapper' not in cfg:
            raise KeyError(f'{config}: --train needs an `optim_wrapper` entry in the config')
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        res['train'] = benchmark_train(model, optim_wrapper, args.train_batch_size, shape,
                                       args.warmup, args.iters, args.device, args.seed,
                                       args.label_fields)
    return res


def add_ratios(results: List[dict]) -> None:
    """Ratios of each config's throughput / latency to those of the first config."""
    ref = results[0]
    for r in results:
        r['inference']['throughput_ratio'] = (r['inference']['throughput_img_s'] /
                                              ref['inference']['throughput_img_s'])
        r['inference']['latency_ratio'] = (r['inference']['latency_ms_median'] /
                                           ref['inference']['latency_ms_median'])
        if 'train' in r and 'train' in ref:
            r['train']['throughput_ratio'] = (r['train']['throughput_samples_s'] /
                                              ref['train']['throughput_samples_s'])


def environment(args) -> dict:
    import torch
    env = dict(torch=torch.__version__, device=args.device, num_threads=torch.get_num_threads(),
               cpu=platform.processor() or platform.machine(),
               shape=list(args.shape) if args.shape else 'config')
    if args.device == 'cuda':
        env['gpu'] = torch.cuda.get_device_name(0)
    return env


def _rate(v: float) -> str:
    return f'{v:.1f}' if v >= 10 else f'{v:.3f}'


def to_markdown(results: List[dict], env: dict) -> str:
    head = ['config', 'input', 'params', 'GMACs', 'ms/img (median)', 'ms/img (p90)', 'img/s',
            'x first']
    has_train = any('train' in r for r in results)
    if has_train:
        head += ['train samples/s', 'train img/s', 'x first (train)']
    lines = [
        f'device: {env["device"]} ({env.get("gpu", env["cpu"])}), torch {env["torch"]}, '
        f'threads {env["num_threads"]}, input '
        + (f'{env["shape"][0]}x{env["shape"][1]}' if env['shape'] != 'config' else
           "per config (its test pipeline)") + ', '
        f'inference batch {results[0]["inference"]["batch_size"]}'
        + (f', train batch {results[0]["train"]["batch_size"]}' if has_train else ''),
        '',
        '| ' + ' | '.join(head) + ' |',
        '|' + '|'.join(['---'] + ['---:'] * (len(head) - 1)) + '|',
    ]
    for r in results:
        i = r['inference']
        cells = [r['config'], f'{r["shape"][0]}x{r["shape"][1]}', f'{r["params"]:,}', f'{r["macs"] / 1e9:.3f}', f'{i["latency_ms_median"]:.2f}',
                 f'{i["latency_ms_p90"]:.2f}', _rate(i['throughput_img_s']),
                 f'{i["throughput_ratio"]:.2f}']
        if has_train:
            t = r.get('train')
            cells += ([_rate(t['throughput_samples_s']), _rate(t['throughput_img_s']),
                       f'{t["throughput_ratio"]:.2f}'] if t else ['-', '-', '-'])
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the tool; returns ``dict(environment=..., results=[...])``."""
    args = parse_args(argv)
    import torch
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    results = []
    for config in args.configs:
        results.append(benchmark_config(config, args))
        gc.collect()
        if args.device == 'cuda':
            torch.cuda.empty_cache()
    add_ratios(results)
    env = environment(args)
    md = to_markdown(results, env)
    print(md)
    out = dict(environment=env, results=results)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            if args.out.endswith('.json'):
                json.dump(out, f, indent=1)
            else:
                f.write(md + '\n')
        print(f'wrote {args.out}')
    return out


if __name__ == '__main__':
    main(sys.argv[1:])
