"""Time and memory of LAN's guidance-map clustering per backend (docs/lan.md, "Guidance time").

    python tools/analysis/benchmark_guidance.py [--num-images 1000] [--positions 49]
        [--channels 512] [--backends exact memmap minibatch] [--reference-images 16]
        [--out result.json]

For each K-means backend (:mod:`mmfer.utils.kmeans`) it clusters ``num_images`` synthetic
reference feature maps (P positions × D channels, two blobs per position with a 20 % minority,
seed 0) with the hook's defaults (10 restarts, 3 minibatch passes) and reports the wall time,
the time per 1,000 images and the peak Python-traced memory (tracemalloc: numpy buffers). It
also times (a) the nearest-center assignment of one training batch of 64 maps (the per-step
cost of ``online_reference`` besides the reference forward) and (b) with
``--reference-images N > 0``, the forward of a ResNet-18 at 224×224 on N images, extrapolated
to 1,000 (the extraction pass, one such forward per training image, dominates on a CPU).
Figures depend on the machine; the JSON records the thread count.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from mmfer.utils import kmeans as km  # noqa: E402


def synthetic_features(n: int, p: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    minority = rng.random((n, p)) < 0.2
    return (rng.normal(0, 1, (n, p, d)) + 3.0 * minority[..., None]).astype(np.float32)


def run_backend(backend: str, feats: np.ndarray, restarts: int, passes: int) -> dict:
    n, p, d = feats.shape
    tmp = tempfile.mkdtemp()
    tracemalloc.start()
    t0 = time.perf_counter()
    if backend == 'exact':
        store = km.ExactStore(n, p, d)
        store.write(np.arange(n), feats)
        centers = km.fit_store(store, seed=0, restarts=restarts)
    elif backend == 'memmap':
        store = km.MemmapStore(os.path.join(tmp, 'feats.npy'), n, p, d)
        for s in range(0, n, 64):
            store.write(np.arange(s, min(s + 64, n)), feats[s:s + 64])
        store.flush()
        centers = km.fit_store(store, seed=0, restarts=restarts)
    else:
        centers = km.fit_minibatch(lambda: km.iter_chunks(feats, 64), seed=0, passes=passes,
                                   init_size=min(512, n), restarts=restarts)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return dict(backend=backend, seconds=round(dt, 3), seconds_per_1000=round(dt * 1000 / n, 3),
                peak_traced_bytes=int(peak), attentive_positions=int((centers.attentive >= 0)
                                                                      .sum())), centers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--num-images', type=int, default=1000)
    ap.add_argument('--positions', type=int, default=49)
    ap.add_argument('--channels', type=int, default=512)
    ap.add_argument('--backends', nargs='+', default=list(km.BACKENDS), choices=km.BACKENDS)
    ap.add_argument('--restarts', type=int, default=10)
    ap.add_argument('--passes', type=int, default=3)
    ap.add_argument('--reference-images', type=int, default=0,
                    help='time a ResNet-18 224×224 forward on this many images (0: skip)')
    ap.add_argument('--out', default=None, help='write the results as JSON')
    args = ap.parse_args(argv)
    feats = synthetic_features(args.num_images, args.positions, args.channels)
    rows, centers = [], None
    for backend in args.backends:
        row, c = run_backend(backend, feats, args.restarts, args.passes)
        centers = centers or c
        rows.append(row)
        print(f'{backend:9s} {row["seconds"]:8.2f} s  {row["seconds_per_1000"]:8.2f} s / 1,000 '
              f'images  peak {row["peak_traced_bytes"] / 2 ** 20:8.1f} MiB', flush=True)
    side = int(round(args.positions ** 0.5))
    maps = torch.from_numpy(feats[:64]).transpose(1, 2).reshape(-1, args.channels, side,
                                                                 args.positions // side)
    t0 = time.perf_counter()
    for _ in range(5):
        centers.assign(maps)
    assign_ms = (time.perf_counter() - t0) / 5 * 1000
    print(f'assignment of a batch of {len(maps)} maps: {assign_ms:.2f} ms')
    result = dict(num_images=args.num_images, positions=args.positions, channels=args.channels,
                  threads=torch.get_num_threads(), backends=rows,
                  assign_batch64_ms=round(assign_ms, 3),
                  memory_estimate=km.memory_estimate(args.num_images, args.positions,
                                                     args.channels))
    if args.reference_images > 0:
        from mmpretrain.models import ResNet
        net = ResNet(depth=18, out_indices=(3, ))
        net.eval()  # (mmpretrain's ResNet.train returns None)
        x = torch.randn(args.reference_images, 3, 224, 224)
        with torch.no_grad():
            net(x[:1])
            t0 = time.perf_counter()
            net(x)
        dt = time.perf_counter() - t0
        result['reference_forward_s_per_1000'] = round(dt * 1000 / args.reference_images, 2)
        print(f'ResNet-18 224×224 reference forward: {result["reference_forward_s_per_1000"]:.1f}'
              ' s / 1,000 images')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
