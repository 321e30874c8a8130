"""The accuracy effect of bf16 (or fp16) inference, measured: the test split in fp32 and under
bf16 / fp16 autocast.

    python tools/analysis/bf16_accuracy.py CONFIG CHECKPOINT [--amp bf16|fp16] [--num-images N]
        [--batch-size 64] [--device cpu|cuda] [--no-channels-last] [--out result.json]
    python tools/analysis/bf16_accuracy.py CONFIG --random-weights ...   # plumbing check

Every test batch is fed to the same model twice — fp32, then under
``torch.autocast(dtype=torch.bfloat16)`` (``--amp fp16``: ``torch.float16``, refused on a CPU
without native fp16; :func:`mmfer.utils.performance.autocast_context`) —
and the script prints the top-1 accuracy of each, the max abs difference of the logits (and
its median over images), and the share of images whose top-1 prediction changed.  The model
is built from the config, the checkpoint loaded strictly (loss state may be absent), the
``test_dataloader`` of the config is used as is (``--num-images`` takes its first N images).
channels_last is on as in the training / test tools (``--no-channels-last`` to compare NCHW).
"""
import argparse
import json
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--random-weights', action='store_true',
                   help='no checkpoint: the constructor weights (to check the plumbing)')
    p.add_argument('--num-images', type=int, help='only the first N test images')
    p.add_argument('--batch-size', type=int, help='override test_dataloader.batch_size')
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', default='bf16', choices=['bf16', 'fp16'],
                   help='the reduced precision to compare with fp32 (default bf16)')
    p.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--num-threads', type=int, help='torch.set_num_threads')
    p.add_argument('--out', help='write the result as JSON')
    args = p.parse_args(argv)
    if bool(args.checkpoint) == args.random_weights:
        p.error('give a CHECKPOINT or --random-weights (not both)')
    return args


def compare(model, loader, device: str, num_images=None, amp: str = 'bf16') -> dict:
    """fp32 vs ``amp`` (bf16 / fp16) logits over ``loader`` (see the module docstring); the
    keys ``acc_<amp>`` and ``model_seconds[<amp>]`` name the precision."""
    import torch

    from mmfer.utils.performance import autocast_context
    labels, l32, l16 = [], [], []
    seen = 0
    model.eval()
    times = {'fp32': 0.0, amp: 0.0}
    with torch.no_grad():
        for data in loader:
            batch = model.data_preprocessor(data, False)
            x = batch['inputs']
            if num_images is not None:
                x = x[:num_images - seen]
                batch['data_samples'] = batch['data_samples'][:len(x)]
            t0 = time.perf_counter()
            a = model(x, batch['data_samples'], mode='tensor')
            t1 = time.perf_counter()
            with autocast_context(device.split(':')[0], amp):
                b = model(x, batch['data_samples'], mode='tensor')
            t2 = time.perf_counter()
            times['fp32'] += t1 - t0
            times[amp] += t2 - t1
            l32.append(a.float().cpu())
            l16.append(b.float().cpu())
            labels.append(torch.stack([d.gt_label.reshape(-1)[0] for d in batch['data_samples']]))
            seen += len(x)
            if num_images is not None and seen >= num_images:
                break
    l32, l16, y = torch.cat(l32), torch.cat(l16), torch.cat(labels).cpu()
    diff = (l32 - l16).abs().amax(dim=1)
    p32, p16 = l32.argmax(1), l16.argmax(1)
    return {'num_images': len(y), 'amp': amp,
            'acc_fp32': float((p32 == y).float().mean() * 100),
            f'acc_{amp}': float((p16 == y).float().mean() * 100),
            'logits_max_abs_diff': float(diff.max()),
            'logits_median_max_abs_diff': float(statistics.median(diff.tolist())),
            'logits_abs_max': float(l32.abs().max()),
            'top1_changed_pct': float((p32 != p16).float().mean() * 100),
            'model_seconds': times}


def main(argv=None):
    args = parse_args(argv)
    import torch
    from mmengine.config import Config

    import mmfer  # noqa: F401
    from mmfer.apis import build_model
    from mmfer.engine.runner import FERRunner
    from mmfer.utils.checkpoint import LOSS_STATE_KEYS, load_checkpoint
    from mmfer.utils.performance import to_channels_last
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    cfg = Config.fromfile(args.config)
    model = build_model(cfg, 'cpu')
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, ignore_missing=[LOSS_STATE_KEYS])
    if args.channels_last:
        to_channels_last(model)
    model.to(args.device)
    loader_cfg = dict(cfg.test_dataloader)
    if args.batch_size:
        loader_cfg['batch_size'] = args.batch_size
    loader = FERRunner.build_dataloader(loader_cfg, seed=0)
    res = dict(config=args.config, checkpoint=args.checkpoint, device=args.device,
               channels_last=args.channels_last, threads=torch.get_num_threads(),
               **compare(model, loader, args.device, args.num_images, args.amp))
    print(f"{res['num_images']} images: top-1 fp32 {res['acc_fp32']:.2f} %, {args.amp} "
          f"{res['acc_' + args.amp]:.2f} %; top-1 changed on {res['top1_changed_pct']:.2f} %; logits "
          f"max |diff| {res['logits_max_abs_diff']:.3g} (median per image "
          f"{res['logits_median_max_abs_diff']:.3g}, max |logit| {res['logits_abs_max']:.3g})")
    print(json.dumps(res), file=sys.stderr)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
