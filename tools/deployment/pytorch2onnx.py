"""Export an mmfer classifier to ONNX and check it against PyTorch.

    python tools/deployment/pytorch2onnx.py CONFIG CKPT [--out model.onnx] [--shape H W] \
        [--opset 18] [--tolerance 1e-4] [--num-random 4] [--num-real 8] [--seed 0] \
        [--validate] [--max-samples N] [--batch-size B] [--threads 1] [--json result.json] \
        [--cfg-options key=value ...]

``CKPT`` is a checkpoint (loaded strictly, as :func:`mmfer.apis.init_model` does) or ``none``
for the constructor weights (a smoke test of the export only).

What is exported (:mod:`mmfer.apis.onnx_model`): the inference network — the data
preprocessor's BGR→RGB flip and ``(x - mean) / std`` *included*, then backbone → neck → head —
as one file with input ``input`` (N×3×H×W float32, pixels 0..255 in BGR order as
``cv2.imread`` gives them, batch axis dynamic) and output ``logits`` (N×C). A multi-view
classifier (QCS, DacFER) exports its single-view base network. Class names, test pipeline and
input size go into the file's metadata.

Checks, in order (the tool exits 1 when a logit difference exceeds ``--tolerance``):

1. ``onnx.checker.check_model(full_check=True)``;
2. parity on ``--num-random`` uniform random images and on ``--num-real`` SynthFER test faces
   (``render(sample_params(seed, i, split='test'))``, through the config's test pipeline):
   onnxruntime against PyTorch's own path (``model.data_preprocessor`` then
   ``model(..., mode='tensor')``), each at batch 1 and as one batch, max |Δ logit| printed;
3. with ``--validate``: the config's ``test_dataloader`` through both (at most
   ``--max-samples`` images): accuracy and ms/img of each side by side, prediction agreement
   and the max |Δ logit| over the split (also held to ``--tolerance``).

Precision and layout (docs/performance.md): the export is fp32 and the graph NCHW, whatever the
training / test tools' ``channels_last`` / ``amp`` / ``compile`` options were: a checkpoint
holds fp32 weights in either memory format (the state dict is layout-free), the exporter traces
the fp32 eager model, and ONNX Runtime picks its own kernels and layouts. So there are no
``--amp`` / ``--compile`` / ``--channels-last`` switches here; reduced-precision ONNX
(fp16 conversion, int8 quantisation) is a job for onnxruntime's own tools.
"""
import argparse
import json
import os.path as osp
import sys
import time

import numpy as np


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none' (constructor weights)")
    parser.add_argument('--out', default=None,
                        help='the .onnx file (default: CONFIG name + .onnx in the current dir)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                        help='input size (default: the size of the test pipeline)')
    parser.add_argument('--opset', type=int, default=18, help='ONNX opset (default 18)')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='max |logit difference| allowed (default 1e-4); above: exit 1')
    parser.add_argument('--num-random', type=int, default=4, help='random images to compare')
    parser.add_argument('--num-real', type=int, default=8, help='SynthFER faces to compare')
    parser.add_argument('--seed', type=int, default=0, help='seed of the compared inputs')
    parser.add_argument('--validate', action='store_true',
                        help='run the test split through PyTorch and onnxruntime')
    parser.add_argument('--max-samples', type=int, default=None,
                        help='with --validate: stop after this many test images')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='with --validate: batch size (default: the test dataloader\'s)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch and onnxruntime intra-op threads (0: leave the default)')
    parser.add_argument('--json', default=None, help='write the figures as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def torch_logits(model, x):
    """PyTorch's own inference path on raw N×3×H×W 0..255 BGR inputs."""
    import torch
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=torch.as_tensor(x)), False)
        return model(data['inputs'], mode='tensor').float().numpy()


def real_inputs(model, size, n, seed):
    """``n`` SynthFER test faces rendered at the input size, through the test pipeline."""
    import cv2
    import torch

    from mmfer.apis.inference import _image_pipeline
    from mmfer.datasets.synthfer_render import render, sample_params
    pipeline = _image_pipeline(model.test_pipeline)
    h, w = size
    side = min(max(h, w, 32), 256)
    out = []
    for i in range(n):
        img, _ = render(sample_params(seed, i, split='test'), size=side)
        img = np.ascontiguousarray(img[:, :, ::-1])  # the renderer gives RGB; pipelines take BGR
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        packed = pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
        out.append(packed['inputs'])
    x = torch.stack(out).float().numpy()
    if x.shape[2:] != (h, w):
        raise ValueError(f'the test pipeline turns {h}×{w} faces into {x.shape[2]}×{x.shape[3]}; '
                         'pass --shape with the size the pipeline produces')
    return x


def parity(model, session, x):
    """max |Δ logit| of onnxruntime vs PyTorch: one batch and image by image."""
    ref = torch_logits(model, x)
    batched = np.abs(session(x) - ref).max()
    single = max(np.abs(session(x[i:i + 1]) - ref[i:i + 1]).max() for i in range(len(x)))
    return float(max(batched, single)), ref


def validate(model, session, cfg, args):
    import torch
    from mmfer.engine.runner import FERRunner  # resolves num_workers='auto'
    loader_cfg = dict(cfg.test_dataloader)
    if args.batch_size:
        loader_cfg['batch_size'] = args.batch_size
    loader = FERRunner.build_dataloader(loader_cfg)
    n = correct_t = correct_o = agree = 0
    time_t = time_o = 0.0
    max_diff = 0.0
    warm = False
    for data in loader:
        inputs = data['inputs']
        x = torch.stack(inputs).float() if isinstance(inputs, list) else inputs.float()
        labels = np.array([int(s.gt_label) for s in data['data_samples']])
        if args.max_samples is not None and n + len(labels) > args.max_samples:
            keep = args.max_samples - n
            x, labels = x[:keep], labels[:keep]
        if not len(labels):
            break
        xn = x.numpy()
        if not warm:  # first calls allocate; not timed
            torch_logits(model, xn[:1])
            session(xn[:1])
            warm = True
        t0 = time.perf_counter()
        lt = torch_logits(model, xn)
        t1 = time.perf_counter()
        lo = session(xn)
        t2 = time.perf_counter()
        time_t += t1 - t0
        time_o += t2 - t1
        pt, po = lt.argmax(1), lo.argmax(1)
        correct_t += int((pt == labels).sum())
        correct_o += int((po == labels).sum())
        agree += int((pt == po).sum())
        max_diff = max(max_diff, float(np.abs(lt - lo).max()))
        n += len(labels)
        if args.max_samples is not None and n >= args.max_samples:
            break
    if not n:
        raise ValueError('--validate: the test dataloader gave no image')
    return dict(num_images=n, batch_size=loader_cfg.get('batch_size'),
                torch_accuracy=correct_t / n, onnx_accuracy=correct_o / n,
                torch_ms_per_img=1000 * time_t / n, onnx_ms_per_img=1000 * time_o / n,
                agreement=agree / n, max_abs_diff=max_diff)


def main(argv=None):
    args = parse_args(argv)
    import torch

    from mmfer.apis import init_model, model_input_size
    from mmfer.apis.onnx_model import OnnxClassifier, check_onnx_available, export_onnx
    check_onnx_available()
    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    model = init_model(args.config, ckpt, 'cpu', args.cfg_options)
    size = tuple(args.shape) if args.shape else model_input_size(model)
    out = args.out or osp.splitext(osp.basename(args.config))[0] + '.onnx'
    t0 = time.perf_counter()
    export_onnx(model, out, size, opset=args.opset)  # also runs onnx.checker (full_check)
    result = dict(config=args.config, checkpoint=args.checkpoint, onnx=out,
                  input_size=list(size), opset=args.opset, tolerance=args.tolerance,
                  export_s=round(time.perf_counter() - t0, 2),
                  onnx_mib=round(osp.getsize(out) / 2**20, 3), checker='passed')
    print(f'exported {out} ({result["onnx_mib"]} MiB, input N×3×{size[0]}×{size[1]}, opset '
          f'{args.opset}) in {result["export_s"]} s; onnx.checker: passed')
    session = OnnxClassifier(out, threads=args.threads or None)
    rng = np.random.default_rng(args.seed)
    failed = []
    if args.num_random:
        x = rng.uniform(0, 255, (args.num_random, 3, *size)).astype(np.float32)
        result['random_max_abs_diff'], _ = parity(model, session, x)
        print(f'random inputs ({args.num_random}): max |logit diff| '
              f'{result["random_max_abs_diff"]:.3g}')
        if result['random_max_abs_diff'] > args.tolerance:
            failed.append('random')
    if args.num_real:
        x = real_inputs(model, size, args.num_real, args.seed)
        result['real_max_abs_diff'], ref = parity(model, session, x)
        result['real_logit_range'] = [float(ref.min()), float(ref.max())]
        print(f'SynthFER faces ({args.num_real}): max |logit diff| '
              f'{result["real_max_abs_diff"]:.3g} (logits in {ref.min():.3g}..{ref.max():.3g})')
        if result['real_max_abs_diff'] > args.tolerance:
            failed.append('real')
    if args.validate:
        v = validate(model, session, model.cfg, args)
        result['validate'] = v
        print(f'test split: {v["num_images"]} images, batch {v["batch_size"]}, '
              f'{torch.get_num_threads()} thread(s)')
        print(f'{"":<12}{"accuracy":>10}{"ms/img":>10}')
        print(f'{"PyTorch":<12}{v["torch_accuracy"]:>10.4f}{v["torch_ms_per_img"]:>10.3f}')
        print(f'{"onnxruntime":<12}{v["onnx_accuracy"]:>10.4f}{v["onnx_ms_per_img"]:>10.3f}')
        print(f'prediction agreement {100 * v["agreement"]:.2f} %, max |logit diff| over the '
              f'split {v["max_abs_diff"]:.3g}')
        if v['max_abs_diff'] > args.tolerance:
            failed.append('validate')
    result['passed'] = not failed
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    if failed:
        print(f'FAILED: logit difference above --tolerance {args.tolerance:g} on '
              f'{", ".join(failed)} inputs', file=sys.stderr)
        return 1
    print(f'parity within {args.tolerance:g}: passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
