"""Examples 2 and 3 of docs/add_plugin.md: a loss over two views, a neck with a frozen auxiliary
network — built from their configs, values on hand-computed cases, one training step."""
import math
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmfer.registry import DATASETS, MODELS

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EXAMPLE = osp.join(ROOT, 'docs', 'examples', 'custom_plugin')


def load(name):
    sys.path.insert(0, EXAMPLE)
    try:
        cfg = Config.fromfile(osp.join(EXAMPLE, name))
        import my_plugins  # noqa: F401  (custom_imports, as the Runner does)
        torch.manual_seed(0)
        model_cfg = dict(cfg.model, data_preprocessor=cfg.data_preprocessor)
        return cfg, MODELS.build(model_cfg)
    finally:
        sys.path.remove(EXAMPLE)


def test_two_view_example():
    cfg, model = load('two_view_r18_synthfer.py')
    assert type(model).__name__ == 'MultiViewClassifier' and model.num_views == 2
    assert [l.loss_name for l in model.head.losses] == ['loss_ce', 'loss_agree']
    agree = model.head.losses[1]
    # hand case: z⁰ = (0, 0) → p = (½, ½); z¹ = (ln 3, 0) → q = (¾, ¼); ‖p − q‖² / 2 = 0.0625
    z0, z1 = torch.zeros(1, 2), torch.tensor([[math.log(3.), 0.]])
    assert agree([dict(logits=z0), dict(logits=z1)], [{}, {}]).item() == pytest.approx(0.0625)
    assert agree([dict(logits=z1), dict(logits=z1)], [{}, {}]).item() == 0.0
    # the pipeline gives each sample its view axis: (image, flipped image)
    ds_cfg = dict(cfg.train_dataloader.dataset, num_samples=2)
    dataset = DATASETS.build(ds_cfg)
    items = [dataset[i] for i in range(2)]
    x = items[0]['inputs']
    assert x.shape == (2, 3, 64, 64) and torch.equal(x[1], x[0].flip(-1))
    batch = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                         data_samples=[it['data_samples'] for it in items]),
                                    True)
    assert batch['inputs'].shape == (2, 2, 3, 64, 64)
    model.eval()
    losses = model.loss(batch['inputs'], batch['data_samples'])
    y = torch.cat([d.gt_label for d in batch['data_samples']])
    z = [model(batch['inputs'][:, v]) for v in range(2)]
    assert torch.allclose(losses['loss_ce'], F.cross_entropy(z[0], y), atol=1e-6)
    p, q = z[0].softmax(1), z[1].softmax(1)
    assert torch.allclose(losses['loss_agree'], ((p - q) ** 2).sum(1).mean() / 2, atol=1e-6)


def test_guided_neck_example():
    _, model = load('guided_r18_synthfer.py')
    guide = model.aux_nets['guide']
    assert not any(p.requires_grad for p in guide.parameters())
    # hand case: a guide map of zeros → g = σ(0) = ½ everywhere → feat = GAP(F)
    x = torch.rand(2, 256, 2, 2)
    out = model.neck((x, ), aux=dict(guide=(torch.zeros(2, 128, 2, 2), )))
    assert torch.allclose(out['feat'], x.mean(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(out['attn_maps'], torch.full((2, 1, 2, 2), 0.5))
    # a training step moves the backbone, not the frozen guide (weights and BN buffers)
    wrapper = build_optim_wrapper(model, dict(constructor='FEROptimWrapperConstructor',
                                              optimizer=dict(type='Adam', lr=1e-3)))
    before = {k: v.clone() for k, v in guide.state_dict().items()}
    conv = model.backbone.conv1.weight.detach().clone()
    model.train()
    data = dict(inputs=[torch.rand(3, 64, 64) * 255 for _ in range(2)],
                data_samples=[DataSample().set_gt_label(i) for i in (0, 3)])
    log = model.train_step(data, wrapper)
    assert set(log) == {'loss', 'loss_ce'}
    assert not torch.equal(conv, model.backbone.conv1.weight)
    assert all(torch.equal(before[k], v) for k, v in guide.state_dict().items())
