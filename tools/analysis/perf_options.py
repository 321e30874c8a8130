"""What the performance options (docs/performance.md) do to a model's numbers and speed.

    # exactness of channels_last for every method config (random weights, one batch):
    python tools/analysis/perf_options.py --exactness configs/**/*.py [--batch-size 2] [--spread]
    # logits difference and interleaved speed of channels_last / compile / bf16 vs fp32 eager:
    python tools/analysis/perf_options.py --speed CONFIG [--shape 224] [--batch-size 32]
        [--options channels_last compile bf16] [--rounds 5] [--iters 3] [--train]
    # the optimizer step alone, torch's loop against fused=True (config key fused_optimizer):
    python tools/analysis/perf_options.py --optimizer-step CONFIG [--rounds 5] [--iters 3]

``--exactness``: per config, the model (random constructor weights, seed 0) runs one batch in
eval mode (``test_step`` logits) and one training forward/backward (``train_step`` loss terms
and every gradient, no optimizer step), once NCHW and once after
:func:`mmfer.utils.performance.to_channels_last`; prints the max abs difference of the logits,
of the loss and the max abs gradient difference (also relative to the largest gradient).
``--spread`` adds NCHW with oneDNN switched off against NCHW: fp32's own spread between two
correct kernels, the yardstick for the gradient difference.  Configs
with the same model config are measured once.

``--speed``: the options are timed *interleaved* (eager, option 1, option 2, ..., eager, ...)
for ``--rounds`` rounds of ``--iters`` calls each, so that a shared machine's load hits every
variant alike; the figure is the median over rounds of (eager time / option time). The logits
difference is the max abs difference to fp32 eager on the same batch.  ``compile`` is timed
after its cold start (the first call; printed). For inference it also gives each variant's
rate in GMAC/s (the model's conv + matmul MACs, :func:`mmfer.utils.flops.count_model_flops`,
per second), and ``--gemm-peak`` adds a yardstick: the rate of one large fp32 matrix product
(``torch.mm``, N×N, the same threads) and each variant's share of it — how much an exact
option can still gain on this CPU.

``--optimizer-step``: the config's optimizer over the model's trainable parameters, with
random gradients, built as configured and with ``fused=True``
(:func:`mmfer.utils.performance.fused_optimizer_cfg`); ``optimizer.step()`` timed interleaved
the same way, and the max abs difference of the parameters after the timed steps (the two
start from the same weights and states and see the same gradients).
"""
import argparse
import glob
import json
import statistics
import sys
import time
from typing import List, Optional


def _autocast(amp):
    """mmfer's autocast_context, except fp16 on a CPU without native fp16, which it refuses:
    measured here on purpose."""
    import torch

    from mmfer.utils.performance import autocast_context
    if amp == 'fp16':
        return torch.autocast('cpu', dtype=torch.float16)
    return autocast_context('cpu', amp)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument('--exactness', nargs='+', metavar='CONFIG',
                      help='configs (globs allowed) to check channels_last on')
    mode.add_argument('--speed', metavar='CONFIG', help='config to time the options on')
    mode.add_argument('--optimizer-step', metavar='CONFIG',
                      help='time the config\'s optimizer step, loop vs fused=True')
    p.add_argument('--shape', type=int, nargs='+', help='H [W]; default the test pipeline size')
    p.add_argument('--batch-size', type=int, default=None,
                   help='default 2 (--exactness) / 32 (--speed)')
    p.add_argument('--options', nargs='+', default=['channels_last', 'compile', 'bf16'],
                   choices=['channels_last', 'compile', 'bf16', 'channels_last+compile',
                            'channels_last+bf16', 'fp16', 'channels_last+fp16'],
                   help='fp16 on a CPU without native fp16 bypasses the refusal of amp=fp16 '
                   '(to show why it is refused: emulated, slow)')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--iters', type=int, default=3)
    p.add_argument('--train', action='store_true', help='--speed: time train_step instead')
    p.add_argument('--num-threads', type=int, default=1)
    p.add_argument('--spread', action='store_true',
                   help='--exactness: also NCHW with oneDNN off vs NCHW (fp32 spread between '
                   'two correct kernels), to judge the channels_last gradient difference')
    p.add_argument('--gemm-peak', type=int, nargs='?', const=2048, default=None, metavar='N',
                   help='--speed: also time an N x N fp32 torch.mm (default N 2048) as the '
                   "CPU's practical MAC rate, and report each variant's share of it")
    p.add_argument('--out', help='write the results as JSON')
    return p.parse_args(argv)


def _shape(cfg, shape: Optional[List[int]]):
    if shape:
        return shape * 2 if len(shape) == 1 else shape[:2]
    from mmfer.apis.fer_inferencer import pipeline_input_size
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    size = pipeline_input_size((loader.get('dataset') or {}).get('pipeline'))
    return list(size) if size else [112, 112]


def _batch(model, n: int, shape, train: bool, seed: int = 0) -> dict:
    import torch
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    views = int(getattr(model, 'num_branches', getattr(model, 'num_views', 1)) or 1) \
        if train else 1
    size = (n, ) + ((views, ) if views > 1 else ()) + (3, ) + tuple(shape)
    num_classes = model.head.num_classes
    samples = [DataSample().set_gt_label(int(y))
               for y in torch.randint(0, num_classes, (n, ), generator=gen)]
    fields = getattr(model, 'train_label_fields', ()) if train else ()
    for name in fields or ():
        for ds in samples:
            ds.set_field(torch.randint(0, num_classes, (1, ), generator=gen), name)
    return dict(inputs=torch.randint(0, 256, size, generator=gen, dtype=torch.uint8),
                data_samples=samples)


def _logits(model, data):
    import torch
    with torch.no_grad():
        batch = model.data_preprocessor(data, False)
        return model(batch['inputs'], batch['data_samples'], mode='tensor').float()


def _grads(model, data):
    """Loss terms and gradients of one training forward/backward (no step)."""
    import torch
    torch.manual_seed(1)  # the same dropout masks / batch augmentations for both layouts
    model.zero_grad(set_to_none=True)
    batch = model.data_preprocessor(data, True)
    losses = model(batch['inputs'], batch['data_samples'], mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return float(loss.detach()), grads


def exactness(configs: List[str], batch_size: int, shape=None, spread: bool = False) -> List[dict]:
    import copy

    import torch

    from mmfer.apis import build_model
    from mmfer.utils.flops import load_config
    from mmfer.utils.performance import to_channels_last
    seen, rows = {}, []
    for path in configs:
        cfg = load_config(path)
        if 'model' not in cfg:
            continue
        key = repr(cfg.model) + repr(_shape(cfg, shape))
        if key in seen:
            rows.append(dict(seen[key], config=path, same_as=seen[key]['config']))
            continue
        row = dict(config=path)
        try:
            torch.manual_seed(0)
            model = build_model(cfg, 'cpu')
            hw = _shape(cfg, shape)
            row['shape'] = hw
            cl = to_channels_last(copy.deepcopy(model))
            model.eval(), cl.eval()
            data = _batch(model, batch_size, hw, train=False)
            a, b = _logits(model, data), _logits(cl, data)
            row['logits_max_abs'] = float((a - b).abs().max())
            row['logits_scale'] = float(a.abs().max())
            model.train(), cl.train()
            data = _batch(model, batch_size, hw, train=True)
            la, ga = _grads(model, data)
            lb, gb = _grads(cl, data)
            gmax = max(float(g.abs().max()) for g in ga.values())
            row['loss_abs_diff'] = abs(la - lb)
            row['grad_max_abs'] = max(float((ga[k] - gb[k]).abs().max()) for k in ga)
            row['grad_abs_max'] = gmax
            row['grad_max_abs_rel'] = row['grad_max_abs'] / max(gmax, 1e-30)
            if spread:
                with torch.backends.mkldnn.flags(enabled=False):
                    lc, gc = _grads(model, data)
                row['spread_loss_abs_diff'] = abs(la - lc)
                row['spread_grad_max_abs'] = max(float((ga[k] - gc[k]).abs().max())
                                                 for k in ga)
        except Exception as err:  # report, go on with the next config
            row['error'] = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
        seen[key] = row
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _interleaved(fns: dict, rounds: int, iters: int):
    """``rounds`` rounds, each calling every ``fns[name]`` ``iters`` times in turn. Returns
    ``(times, ratios)``: per name the mean call time of each round (s), and per name but the
    first the per-round ratio (first name's time / this name's time)."""
    names = list(fns)
    times = {n: [] for n in names}
    ratios = {n: [] for n in names[1:]}
    for _ in range(rounds):
        for name in names:
            t0 = time.perf_counter()
            for _ in range(iters):
                fns[name]()
            times[name].append((time.perf_counter() - t0) / iters)
        for n in ratios:
            ratios[n].append(times[names[0]][-1] / times[n][-1])
    return times, ratios


def gemm_rate(n: int = 2048, rounds: int = 5) -> float:
    """GMAC/s of an ``n``×``n`` fp32 ``torch.mm`` (median of ``rounds`` calls after one
    warm-up, the current threads): the practical peak a convolution can approach."""
    import torch
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    torch.mm(a, b)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return n ** 3 / statistics.median(times) / 1e9


def speed(config: str, options: List[str], batch_size: int, shape, rounds: int, iters: int,
          train: bool, gemm_peak: Optional[int] = None) -> dict:
    import copy

    import torch
    from mmengine.optim import build_optim_wrapper

    from mmfer.apis import build_model
    from mmfer.utils.flops import load_config
    from mmfer.utils.performance import compile_model, to_channels_last
    cfg = load_config(config)
    torch.manual_seed(0)
    base = build_model(cfg, 'cpu')
    hw = _shape(cfg, shape)
    data = _batch(base, batch_size, hw, train=train)
    variants = {'eager': (base, None)}
    for opt in options:
        m = copy.deepcopy(base)
        if 'channels_last' in opt:
            to_channels_last(m)
        variants[opt] = (m, 'bf16' if 'bf16' in opt else 'fp16' if 'fp16' in opt else None)
    fns, cold, diffs = {}, {}, {}
    ref = _logits(base.eval(), _batch(base, batch_size, hw, train=False)) if not train else None
    for name, (m, amp) in variants.items():
        m.train(train)
        if not train:
            m.eval()
            step = m.test_step
        else:
            ow = build_optim_wrapper(m, copy.deepcopy(cfg.optim_wrapper))

            def step(d, m=m, ow=ow):
                return m.train_step(d, ow)
        if 'compile' in name:
            step = compile_model(step)

        def run(step=step, amp=amp):
            with torch.no_grad() if not train else torch.enable_grad(), \
                    _autocast(amp):
                return step(data)
        t0 = time.perf_counter()
        run()  # cold start (compile) / warm-up
        cold[name] = time.perf_counter() - t0
        fns[name] = run
        if not train:
            with _autocast(amp):
                fwd = compile_model(m) if 'compile' in name else m
                with torch.no_grad():
                    b = m.data_preprocessor(_batch(base, batch_size, hw, train=False), False)
                    out = fwd(b['inputs'], b['data_samples'], mode='tensor').float()
            diffs[name] = float((out - ref).abs().max())
            diffs[name + '_top1_changed'] = float(
                (out.argmax(1) != ref.argmax(1)).float().mean())
    times, ratios = _interleaved(fns, rounds, iters)
    res = dict(config=config, shape=hw, batch_size=batch_size, train=train,
               threads=torch.get_num_threads(), rounds=rounds, iters=iters,
               median_s={n: statistics.median(t) for n, t in times.items()},
               speedup_median={n: statistics.median(r) for n, r in ratios.items()},
               first_call_s=cold, logits_vs_fp32_eager=diffs)
    if not train:
        from mmfer.utils.flops import count_model_flops
        macs = count_model_flops(base.eval(), (3, ) + tuple(hw)).macs
        res['gmacs_per_image'] = macs / 1e9
        res['gmac_per_s'] = {n: macs * batch_size / t / 1e9 for n, t in res['median_s'].items()}
        if gemm_peak:
            peak = gemm_rate(gemm_peak)
            res['gemm'] = dict(n=gemm_peak, gmac_per_s=peak)
            res['share_of_gemm'] = {n: r / peak for n, r in res['gmac_per_s'].items()}
    print(json.dumps(res, indent=1), flush=True)
    return res


def optimizer_step(config: str, rounds: int, iters: int) -> dict:
    import copy

    import torch
    from mmengine.optim import build_optim_wrapper

    from mmfer.apis import build_model
    from mmfer.utils.flops import load_config
    from mmfer.utils.performance import fused_optimizer_cfg
    cfg = load_config(config)
    torch.manual_seed(0)
    base = build_model(cfg, 'cpu')
    params = [p for p in base.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(p.shape, generator=g) * 1e-3 for p in params]
    variants = {}
    for name, ow_cfg in (('loop', copy.deepcopy(cfg.optim_wrapper)),
                         ('fused', fused_optimizer_cfg(copy.deepcopy(cfg.optim_wrapper)))):
        m = copy.deepcopy(base)
        ow = build_optim_wrapper(m, ow_cfg)
        mp = [p for p in m.parameters() if p.requires_grad]
        for p, gr in zip(mp, grads):
            p.grad = gr.clone()
        ow.optimizer.step()  # warm-up, creates the momentum / moment buffers
        variants[name] = (ow.optimizer, mp)
    times, ratios = _interleaved({n: opt.step for n, (opt, _) in variants.items()}, rounds,
                                 iters)
    diff = max(float((a.detach() - b.detach()).abs().max())
               for a, b in zip(variants['loop'][1], variants['fused'][1]))
    res = dict(config=config, optimizer=cfg.optim_wrapper.optimizer.get('type'),
               tensors=len(params), numel=sum(p.numel() for p in params),
               threads=torch.get_num_threads(), rounds=rounds, iters=iters,
               median_ms={n: statistics.median(t) * 1e3 for n, t in times.items()},
               speedup_median=statistics.median(ratios['fused']), max_abs_param_diff=diff)
    print(json.dumps(res, indent=1), flush=True)
    return res


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.num_threads)
    if args.exactness:
        configs = sorted({c for pat in args.exactness for c in glob.glob(pat, recursive=True)
                          if '/_base_/' not in c})
        res = exactness(configs, args.batch_size or 2, args.shape, args.spread)
        bad = [r['config'] for r in res if 'error' in r]
        print(f'{len(res)} configs, {len(bad)} failed: {bad}', file=sys.stderr)
    elif args.optimizer_step:
        res = optimizer_step(args.optimizer_step, args.rounds, args.iters)
    else:
        res = speed(args.speed, args.options, args.batch_size or 32, args.shape, args.rounds,
                    args.iters, args.train, args.gemm_peak)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
