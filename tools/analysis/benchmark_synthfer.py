"""Time the SynthFER renderer on one CPU core: median and p90 per face.

Measures, for ``--num`` consecutive training samples (after ``--warmup`` untimed ones):

- ``render``: :func:`~mmfer.datasets.synthfer_render.render` of one face (drawing, illumination,
  blur, noise, JPEG) — the figure the target "median ≤ 5 ms for a 112 px face" is about;
- ``params``: :func:`~mmfer.datasets.synthfer_render.sample_params` (all random choices);
- ``total``: both, i.e. what ``SynthFER.__getitem__`` costs before the pipeline.

Each is reported as wall-clock time and as the thread's CPU time (``time.thread_time``); on a
shared, loaded machine the CPU time is the better estimate of the renderer's own cost.  The
process is pinned to one core and OpenCV / BLAS use one thread.

Example::

    python tools/analysis/benchmark_synthfer.py --size 112 --num 1000 --out bench.json
"""
import os

# one thread for every library, set before numpy / OpenCV are imported
for _v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_v] = '1'

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from mmfer.datasets.synthfer_render import render, sample_params  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--num', type=int, default=1000, help='timed faces')
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--split', default='train')
    parser.add_argument('--out', help='write the figures as JSON here')
    return parser.parse_args(argv)


def _stats(x_s):
    x = np.asarray(x_s) * 1000.0
    return dict(median_ms=round(float(np.median(x)), 3),
                p90_ms=round(float(np.percentile(x, 90)), 3),
                mean_ms=round(float(x.mean()), 3),
                min_ms=round(float(x.min()), 3))


def benchmark(size=112, num=1000, warmup=20, seed=0, split='train') -> dict:
    if num <= 0:
        raise ValueError(f'--num must be positive, got {num}')
    cv2.setNumThreads(1)
    pinned = None
    if hasattr(os, 'sched_setaffinity'):
        pinned = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {pinned})
    for i in range(warmup):
        render(sample_params(seed, 10**6 + i, split=split), size)
    wall = {'params': [], 'render': [], 'total': []}
    cpu = {'params': [], 'render': [], 'total': []}
    for i in range(num):
        w0, c0 = time.perf_counter(), time.thread_time()
        p = sample_params(seed, i, split=split)
        w1, c1 = time.perf_counter(), time.thread_time()
        render(p, size)
        w2, c2 = time.perf_counter(), time.thread_time()
        wall['params'].append(w1 - w0)
        wall['render'].append(w2 - w1)
        wall['total'].append(w2 - w0)
        cpu['params'].append(c1 - c0)
        cpu['render'].append(c2 - c1)
        cpu['total'].append(c2 - c0)
    return dict(size=size, num=num, seed=seed, split=split, pinned_cpu=pinned,
                load_average=list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
                machine=f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs',
                opencv=cv2.__version__, numpy=np.__version__,
                wall={k: _stats(v) for k, v in wall.items()},
                cpu={k: _stats(v) for k, v in cpu.items()})


def main(argv=None):
    args = parse_args(argv)
    res = benchmark(args.size, args.num, args.warmup, args.seed, args.split)
    print(f"SynthFER renderer, {res['size']} px, {res['num']} faces, one core "
          f"(cpu {res['pinned_cpu']}, load average {res['load_average']})")
    print(f"{'':8s} {'wall median':>12s} {'wall p90':>9s} {'cpu median':>11s} {'cpu p90':>8s}")
    for k in ('render', 'params', 'total'):
        w, c = res['wall'][k], res['cpu'][k]
        print(f"{k:8s} {w['median_ms']:9.2f} ms {w['p90_ms']:6.2f} ms {c['median_ms']:8.2f} ms "
              f"{c['p90_ms']:5.2f} ms")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=2)
        print(f'written {args.out}')


if __name__ == '__main__':
    main()
