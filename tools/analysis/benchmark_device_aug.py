"""CPU time per image saved by device-side augmentation, and what the batch ops cost instead.

    python tools/analysis/benchmark_device_aug.py CPU_CONFIG DEVICE_CONFIG
        [--cfg-options k=v ...] [--num-images 256] [--batch-size 64] [--rounds 5]
        [--device cpu|cuda] [--out result.json]

e.g. ``configs/baseline/r18_synthfer.py configs/baseline/r18_synthfer_device-aug.py`` (the
second moves the first's resize + flip to ``FERDataPreprocessor(device_augments=...)``).

Two costs per image, for each config, measured interleaved (each round times the CPU config then
the device config, ``--rounds`` rounds, medians; the ratio is the median over rounds of
device / CPU in the same round, so drifts of a shared machine cancel):

- ``pipeline``: ``train_dataloader.dataset[i]`` — load, transforms, pack: what a loader worker
  spends per image — over ``--num-images`` indices spread over the split, on one thread;
- ``preprocess``: the model's ``data_preprocessor(batch, training=True)`` on batches of
  ``--batch-size`` samples of that config (collated as the loader does, copied to
  ``--device``): the normalisation for the CPU config; the device ops + normalisation for the
  device config. With ``--device cuda`` the time is taken after ``torch.cuda.synchronize()``.

The CPU time saved per image is pipeline(CPU config) − pipeline(device config); on a GPU the
device config's extra preprocess time runs on the GPU instead of a loader core.
"""
import argparse
import json
import statistics
import sys
import time
from typing import List, Optional

from mmengine.config import DictAction


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description='Pipeline vs device-side augmentation cost.')
    parser.add_argument('cpu_config', help='config with the augmentation in the CPU pipeline')
    parser.add_argument('device_config', help='config with it in data_preprocessor')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override entries of both configs, key=value (e.g. a data_root)')
    parser.add_argument('--num-images', type=int, default=256,
                        help='images per config and round (default 256)')
    parser.add_argument('--batch-size', type=int, default=64,
                        help='preprocessor batch size (default 64)')
    parser.add_argument('--rounds', type=int, default=5, help='interleaved rounds (default 5)')
    parser.add_argument('--device', default='cpu', help="'cpu' (default) or 'cuda'")
    parser.add_argument('--out', help='also write the figures to a .json file')
    args = parser.parse_args(argv)
    for name in ('num_images', 'batch_size', 'rounds'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


class Side:
    """One config: its train dataset, its data preprocessor, and a few collated batches."""

    def __init__(self, path: str, args):
        import torch
        from mmengine.config import Config
        from mmengine.dataset import pseudo_collate

        from mmfer.apis import model_config
        from mmfer.registry import DATASETS, MODELS
        cfg = Config.fromfile(path)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        self.name = path
        self.dataset = DATASETS.build(cfg.train_dataloader.dataset)
        n = len(self.dataset)
        self.indices = [i * n // args.num_images for i in range(args.num_images)]
        pre_cfg = dict(model_config(cfg).data_preprocessor)
        pre_cfg.setdefault('type', 'ClsDataPreprocessor')   # FERClassifier's default
        self.pre = MODELS.build(pre_cfg).to(args.device)
        self.device = torch.device(args.device)
        bs = args.batch_size
        self.batches = [pseudo_collate([self.dataset[i] for i in self.indices[j:j + bs]])
                        for j in range(0, len(self.indices), bs)]

    def pipeline_ms(self) -> float:
        t0 = time.perf_counter()
        for i in self.indices:
            self.dataset[i]
        return 1e3 * (time.perf_counter() - t0) / len(self.indices)

    def preprocess_ms(self) -> float:
        import torch
        sync = (torch.cuda.synchronize if self.device.type == 'cuda' else lambda: None)
        sync()
        t0 = time.perf_counter()
        n = 0
        for batch in self.batches:
            out = self.pre(dict(batch), training=True)
            n += out['inputs'].shape[0]
        sync()
        return 1e3 * (time.perf_counter() - t0) / n


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    import cv2
    import torch
    from mmengine.registry import init_default_scope

    import mmfer  # noqa: F401  (registers everything)
    cv2.setNumThreads(0)
    torch.set_num_threads(1)   # as one loader worker / one compute thread
    init_default_scope('mmfer')
    torch.manual_seed(0)
    sides = [Side(args.cpu_config, args), Side(args.device_config, args)]
    for s in sides:  # warm-up (file cache, allocator, first-call costs)
        s.dataset[s.indices[0]]
        s.pre(dict(s.batches[0]), training=True)
    times = {(s.name, k): [] for s in sides for k in ('pipeline', 'preprocess')}
    for _ in range(args.rounds):
        for s in sides:
            times[(s.name, 'pipeline')].append(s.pipeline_ms())
            times[(s.name, 'preprocess')].append(s.preprocess_ms())
    result = dict(device=args.device, rounds=args.rounds, num_images=args.num_images,
                  batch_size=args.batch_size, rows=[])
    cpu, dev = sides
    for k in ('pipeline', 'preprocess'):
        a, b = times[(cpu.name, k)], times[(dev.name, k)]
        result['rows'].append(dict(
            cost=k, cpu_config_ms=statistics.median(a), device_config_ms=statistics.median(b),
            ratio=statistics.median(y / x for x, y in zip(a, b))))
    saved = [x - y for x, y in zip(times[(cpu.name, 'pipeline')],
                                   times[(dev.name, 'pipeline')])]
    extra = [y - x for x, y in zip(times[(cpu.name, 'preprocess')],
                                   times[(dev.name, 'preprocess')])]
    result['cpu_ms_saved_per_img'] = statistics.median(saved)
    result['device_ms_added_per_img'] = statistics.median(extra)
    print(f'CPU config:    {cpu.name}\ndevice config: {dev.name}\n'
          f'{args.rounds} interleaved rounds, {args.num_images} images, preprocess batch '
          f'{args.batch_size} on {args.device}, one thread; medians\n')
    print('| cost per image | CPU config (ms) | device config (ms) | device / CPU |')
    print('|---|---|---|---|')
    for r in result['rows']:
        print(f"| {r['cost']} | {r['cpu_config_ms']:.3f} | {r['device_config_ms']:.3f} | "
              f"{r['ratio']:.2f}× |")
    print(f"\npipeline time saved per image: {result['cpu_ms_saved_per_img']:.3f} ms; "
          f"preprocess time added per image on {args.device}: "
          f"{result['device_ms_added_per_img']:.3f} ms")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main(sys.argv[1:])
