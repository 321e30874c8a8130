"""Can a model fit one fixed batch? Adam steps on N rendered SynthFER faces, loss per step.

    python tools/analysis/overfit_batch.py CONFIG [--num 32] [--steps 25] [--lr 1e-3]
        [--every 4] [--seed 0] [--fresh] [--amp bf16|fp16]

A sanity check for a model whose full training stays at chance level (e.g. PCDA's 1-epoch
SynthFER rows, docs/pcda.md): the model is built from CONFIG by ``mmfer.apis.build_model``,
``init_weights`` runs (frozen / pretrained parts load as in training), and Adam at ``--lr`` takes
``--steps`` steps on the same batch of ``--num`` SynthFER training faces rendered at the config's
input size (``mmfer.apis.model_input_size``: the test pipeline's, else the test dataset's), through the model's own data preprocessor and ``mode='loss'``. Prints
the summed loss (and the gradient norm) every ``--every`` steps and at the end; a model that can
learn drives the loss well below ln(classes).

``--fresh`` draws a new batch of ``--num`` faces at every step (a stream, as training sees it)
instead of the fixed one. Every printed line also shows the *feature spread*: the standard
deviation over the batch of the head's input (``extract_feat``'s ``feat``), averaged over its
dimensions. A spread that shrinks towards 0 while the loss sits at ln(classes) is a collapse to a
constant output (PCDA's SynthFER config at Adam 1e-3, docs/pcda.md), not a slow start.

``--amp bf16|fp16`` takes the same steps in mixed precision through
:class:`~mmfer.engine.optimizers.FERAmpOptimWrapper` (autocast; fp16 with its dynamic loss
scaler, the gradient norm printed unscaled, and the steps the scaler skipped counted): does the
model also learn in reduced precision? fp16 on a CPU needs native fp16 (docs/performance.md).
"""
import argparse
import contextlib
import sys
import time
from types import SimpleNamespace


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='model config')
    p.add_argument('--num', type=int, default=32, help='faces in the batch (default 32)')
    p.add_argument('--steps', type=int, default=25, help='Adam steps (default 25)')
    p.add_argument('--lr', type=float, default=1e-3, help='Adam learning rate (default 1e-3)')
    p.add_argument('--every', type=int, default=4, help='print every N steps (default 4)')
    p.add_argument('--seed', type=int, default=0, help='seed of the faces and the weights')
    p.add_argument('--fresh', action='store_true',
                   help='a new batch of --num faces at every step instead of one fixed batch')
    p.add_argument('--amp', choices=['bf16', 'fp16'],
                   help='mixed precision (FERAmpOptimWrapper; fp16 with a dynamic loss scaler)')
    return p.parse_args(argv)


def feature_spread(model, inputs) -> float:
    """Mean over dimensions of the batch standard deviation of the head's input."""
    import torch
    with torch.no_grad():
        f = model.extract_feat(inputs)['feat']  # mmfer classifiers: always a dict with 'feat'
    return float(f.flatten(1).std(0).mean())


def overfit(config, num=32, steps=25, lr=1e-3, seed=0, fresh=False, amp=None, info=None):
    """``[(step, loss, grad_norm, feature_spread)]`` for steps 0 … ``steps - 1`` (loss and
    spread before that step's update); ``fresh``: faces ``step·num … step·num + num - 1`` of
    the training split at each step, else faces ``0 … num - 1`` every time. ``amp``: the steps
    through ``FERAmpOptimWrapper`` (``info['skipped_steps']`` gets the scaler's skips)."""
    import numpy as np
    import torch
    from mmpretrain.structures import DataSample

    from mmfer.apis import build_model, load_model_config
    from mmengine.config import Config

    from mmfer.apis.fer_inferencer import model_input_size
    from mmfer.datasets.synthfer_render import render, sample_params
    full = Config.fromfile(config)
    cfg = load_model_config(config)
    loader = full.get('test_dataloader') or full.get('val_dataloader') or {}
    # FERInferencer's rule: the test pipeline's size, else the test dataset's img_size
    size = model_input_size(SimpleNamespace(test_pipeline=(loader.get('dataset') or {}).get(
        'pipeline'), cfg=full))

    def batch(first):
        imgs, labels = [], []
        for i in range(first, first + num):
            rgb, ann = render(sample_params(seed, i, split='train'), size=size[0])
            imgs.append(torch.from_numpy(np.ascontiguousarray(rgb[:, :, ::-1].transpose(2, 0, 1))))
            labels.append(int(ann['label']))
        return dict(inputs=imgs, data_samples=[DataSample().set_gt_label(y) for y in labels])

    torch.manual_seed(seed)
    model = build_model(cfg)
    model.init_weights()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    ow = None
    if amp:
        from mmfer.engine.optimizers import FERAmpOptimWrapper
        ow = FERAmpOptimWrapper(dtype=amp, device_type='cpu', optimizer=opt)
    data = batch(0)
    out = []
    for step in range(steps):
        if fresh and step:
            data = batch(step * num)
        prep = model.data_preprocessor(data, True)
        spread = feature_spread(model, prep['inputs'])
        with ow.autocast() if ow else contextlib.nullcontext():
            losses = model(**prep, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        opt.zero_grad()
        if ow:
            ow.backward(loss)
            ow.loss_scaler.unscale_(opt)  # the norm of the true gradient
        else:
            loss.backward()
        gn = float(torch.sqrt(sum((p.grad.float() ** 2).sum() for p in params
                                  if p.grad is not None)))
        ow.step() if ow else opt.step()
        out.append((step, loss.item(), gn, spread))
    if info is not None:
        info['skipped_steps'] = ow.skipped_steps if ow else 0
    return out


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    info = {}
    rows = overfit(args.config, args.num, args.steps, args.lr, args.seed, args.fresh, args.amp,
                   info)
    for step, loss, gn, spread in rows:
        if step % args.every == 0 or step == len(rows) - 1:
            print(f'step {step:3d}  loss {loss:.3f}  grad norm {gn:.3f}  feature spread '
                  f'{spread:.4f}')
    what = 'fresh batches of' if args.fresh else 'one batch of'
    amp = f', {args.amp} ({info["skipped_steps"]} steps skipped by the scaler)' if args.amp \
        else ''
    print(f'[overfit_batch] {what} {args.num} faces, {args.steps} steps at lr {args.lr:g}{amp}: '
          f'loss {rows[0][1]:.3f} → {rows[-1][1]:.3f}, feature spread {rows[0][3]:.4f} → '
          f'{rows[-1][3]:.4f} ({time.time() - start:.1f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
