"""Write ``dan_qcs_reference.pt``: the DAN / QCS / DCS numbers that refactors must not move.

    python tests/data/regression/make_reference.py      # only to re-record, with a reason

For a tiny DAN, QCS and DCS model (fixed seed, fixed batch) it stores the state dict, the inputs,
the labels, the training-mode loss dict, the per-parameter gradient norms of the summed loss and
the eval-mode logits.  ``tests/test_models/test_classifiers/test_regression.py`` loads the stored
weights into today's models and checks every number to 1e-6.  Recorded from commit f1030df (before
the framework refactor of issue 9).
"""
import copy
import os.path as osp

import torch
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

import mmfer  # noqa: F401
from mmfer.registry import MODELS

HERE = osp.dirname(osp.abspath(__file__))
OUT = osp.join(HERE, 'dan_qcs_reference.pt')

TINY_BASE = dict(
    backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=3, out_indices=(0, 1, 2),
                  strides=(1, 2, 2), dilations=(1, 1, 1), stem_channels=8, base_channels=8),
    neck=dict(type='POSTERBase', in_channels=(8, 16, 32), embed_dim=16, num_tokens=12,
              vit=dict(depth=1, num_heads=2, mlp_ratio=2.)),
    head=dict(type='FERClsHead', num_classes=3, in_channels=16),
    data_preprocessor=dict(type='MultiViewDataPreprocessor', mean=[127.5] * 3, std=[64.] * 3,
                           to_rgb=True),
)

MODELS_CFG = dict(
    dan=dict(
        type='FERClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=4, out_indices=(3, ),
                      stem_channels=8, base_channels=8),
        neck=dict(type='MultiHeadCrossAttention', in_channels=64, num_heads=4,
                  reduction_channels=32, ca_hidden=8),
        head=dict(type='DANHead', num_classes=3, in_channels=64, bn_on_logits=True,
                  losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0),
                          dict(type='AffinityLoss', num_centers=8, feat_dim=64, loss_weight=1.0),
                          dict(type='PartitionLoss', mode='official', loss_weight=1.0)])),
    qcs=dict(TINY_BASE, type='QCSClassifier', cross_vit=dict(num_heads=2, mlp_ratio=2.)),
    dcs=dict(TINY_BASE, type='DCSClassifier', cross_vit=dict(num_heads=2, mlp_ratio=2.)),
)

VIEWS = dict(dan=None, qcs=4, dcs=2)
SIZE = dict(dan=32, qcs=16, dcs=16)


def batch(name, n=4):
    g = torch.Generator().manual_seed(123)
    v, s = VIEWS[name], SIZE[name]
    shape = (n, 3, s, s) if v is None else (n, v, 3, s, s)
    inputs = torch.randn(shape, generator=g)
    y = torch.randint(0, 3, (n, ), generator=g)
    y_neg = (y + 1) % 3
    return inputs, y, y_neg, torch.randn((n, 3, s, s), generator=g)


def samples(y, y_neg):
    out = []
    for a, b in zip(y.tolist(), y_neg.tolist()):
        ds = DataSample().set_gt_label(a)
        ds.set_field(torch.tensor([b]), 'neg_label')
        out.append(ds)
    return out


def run(model, inputs, y, y_neg, test_inputs):
    """(loss dict, gradient norms by parameter name, eval logits) of one model."""
    model.train()
    model.zero_grad()
    losses = model.loss(inputs, samples(y, y_neg))
    sum(losses.values()).backward()
    grads = {k: p.grad.norm() for k, p in model.named_parameters() if p.grad is not None}
    model.eval()
    with torch.no_grad():
        logits = model(test_inputs, mode='tensor')
    return {k: v.detach() for k, v in losses.items()}, grads, logits


def main():
    init_default_scope('mmfer')
    torch.set_num_threads(1)
    out = {}
    for name, cfg in MODELS_CFG.items():
        torch.manual_seed(0)
        model = MODELS.build(copy.deepcopy(cfg))
        state = copy.deepcopy(model.state_dict())
        inputs, y, y_neg, test_inputs = batch(name)
        losses, grads, logits = run(model, inputs, y, y_neg, test_inputs)
        out[name] = dict(state_dict=state, inputs=inputs, y=y, y_neg=y_neg,
                         test_inputs=test_inputs, losses=losses, grads=grads, logits=logits)
        print(name, {k: round(float(v), 6) for k, v in losses.items()},
              f'{sum(p.numel() for p in state.values())} state values')
    torch.save(out, OUT)
    print('written', OUT)


if __name__ == '__main__':
    main()
