"""A DacFER training step (dacfer.md §1.3 / acceptance): two separate forward passes (BatchNorm
statistics per view), CE on view 0 only, L_c on (M, M′) with the detached FC weight, inference
on one view; built from configs/dacfer/dacfer_se50_synthfer.py and fed by its train pipeline."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmcv.transforms import Compose

from mmfer.apis import build_model
from mmfer.registry import TRANSFORMS
from mmfer.utils.params import count_parameters

pytestmark = pytest.mark.usefixtures('one_thread')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(ROOT, 'configs', 'dacfer', 'dacfer_se50_synthfer.py')


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(CFG)


def model_of(cfg, **model_changes):
    cfg = copy.deepcopy(cfg)
    cfg.model.update(model_changes)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    return model


def batch(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 3, size, size, generator=g)
    x[:, 1] = 0.5 * x[:, 0].flip(-1) + 1.0  # a second view with other statistics
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i % 7) for i in range(n)]
    return x, samples


def test_config_model_is_the_dacfer_preset(cfg):
    model = model_of(cfg)
    assert type(model).__name__ == 'MultiViewClassifier' and model.branch_bn == 'separate'
    assert type(model.head).__name__ == 'CAMClsHead' and model.head.detach_cam_weight
    assert [type(l).__name__ for l in model.head.losses] == ['FERCrossEntropyLoss',
                                                            'FlipConsistencyLoss']
    assert model.head.losses[0].views == (0, ) and model.head.losses[1].mode == 'mse'
    assert model.head.losses[1].loss_weight == 1.0
    # inference = the base network only: the CAM and the second view add no parameter
    assert count_parameters(model.inference_model()) == count_parameters(model) == 1_647_311


def test_bn_momentum_1_sees_the_flipped_view_alone(cfg):
    x, samples = batch()
    means = {}
    for branch_bn in ('separate', 'joint'):
        model = model_of(cfg, branch_bn=branch_bn)
        bn = model.backbone.bn1
        bn.momentum = 1.0
        with torch.no_grad():
            per_view = [model.backbone.conv1(x[:, v]).mean((0, 2, 3)) for v in (0, 1)]
            joint = model.backbone.conv1(x.flatten(0, 1)).mean((0, 2, 3))
        model.loss(x, samples)
        means[branch_bn] = bn.running_mean.clone()
        assert (per_view[0] - per_view[1]).abs().max() > 0.1  # the views really differ
    assert torch.allclose(means['separate'], per_view[1], atol=1e-5)   # view 1 ran last
    assert not torch.allclose(means['separate'], joint, atol=1e-3)
    assert torch.allclose(means['joint'], joint, atol=1e-5)            # the option


def test_losses_are_ce_on_view0_and_mse_of_the_cams(cfg):
    x, samples = batch(size=64)
    model = model_of(cfg)
    losses = model.loss(x, samples)
    assert sorted(losses) == ['loss_ce', 'loss_flip']
    # recompute both from two separate passes (train-mode BN uses batch statistics only)
    f0, f1 = (model.extract_feat(x[:, v]) for v in (0, 1))
    target = torch.tensor([i % 7 for i in range(4)])
    ce = F.cross_entropy(model.head(f0), target)
    cam0 = torch.einsum('kc,nchw->nkhw', model.head.fc.weight, f0['backbone_map'])
    cam1 = torch.einsum('kc,nchw->nkhw', model.head.fc.weight, f1['backbone_map'])
    assert cam0.shape == (4, 7, 2, 2)  # 64 px → 2×2 map (224 px → 7×7 at full size)
    assert (cam0 - cam1).abs().max() > 1e-3 and (cam0 - cam1.flip(-1)).abs().max() > 1e-3
    assert losses['loss_ce'].item() == pytest.approx(ce.item(), rel=1e-5)
    assert losses['loss_flip'].item() == pytest.approx(((cam0 - cam1.flip(-1)) ** 2).mean().item(),
                                                       rel=1e-5)
    # L_c trains the backbone through both views, never the FC (detached weight)
    model.zero_grad()
    losses['loss_flip'].backward()
    assert model.head.fc.weight.grad is None
    assert model.backbone.layer4[-1].conv3.weight.grad.abs().sum() > 0


def test_train_pipeline_to_a_step(cfg):
    """The config's train pipeline (Resize 72 → RandomCrop 64 → erasing → PairedFlipView →
    PackInputs) feeds the model; one optimizer step changes the backbone and the FC."""
    pipe = Compose([TRANSFORMS.build(t) for t in cfg.train_dataloader.dataset.pipeline[1:]])
    rng = np.random.default_rng(0)
    data = pseudo_collate([pipe(dict(img=rng.integers(0, 256, (80, 90, 3), dtype=np.uint8),
                                     gt_label=i % 7, img_shape=(80, 90), ori_shape=(80, 90)))
                           for i in range(4)])
    assert data['inputs'][0].shape == (2, 3, 64, 64)
    model = model_of(cfg)
    out = model.data_preprocessor(data, training=True)
    assert out['inputs'].shape == (4, 2, 3, 64, 64)
    assert torch.allclose(out['inputs'][:, 1], out['inputs'][:, 0].flip(-1))
    before = [model.head.fc.weight.clone(), model.backbone.conv1.weight.clone()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    losses = model.loss(out['inputs'], out['data_samples'])
    sum(losses.values()).backward()
    opt.step()
    assert all(torch.isfinite(v) for v in losses.values())
    assert not torch.equal(before[0], model.head.fc.weight)
    assert not torch.equal(before[1], model.backbone.conv1.weight)
    model.eval()
    with torch.no_grad():
        pred = model(out['inputs'][:, 0], mode='predict')
    assert len(pred) == 4 and pred[0].pred_score.shape == (7, )


def test_benchmark_feeds_two_view_training_batches(cfg):
    """tools/analysis/benchmark.py reads num_views: N×2×3×H×W uint8 training batches."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(ROOT, 'tools', 'analysis', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    model = model_of(cfg)
    assert tool.num_views_of(model) == 2
    data = tool.random_batch(model, 3, (64, 64), num_views=tool.num_views_of(model))
    assert data['inputs'].shape == (3, 2, 3, 64, 64) and data['inputs'].dtype == torch.uint8
    losses = model.loss(**model.data_preprocessor(data, training=True))
    assert sorted(losses) == ['loss_ce', 'loss_flip']


def test_independent_pair_config_redraws_the_crop():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'dacfer', 'dacfer_se50_rafdb_independent.py'))
    steps = cfg.train_dataloader.dataset.pipeline
    assert [t['type'] for t in steps] == ['LoadFERImage', 'Resize', 'PairedFlipView',
                                          'PackInputs']
    assert [t['type'] for t in steps[2]['transforms']] == ['RandomCrop',
                                                          'NormalizedRandomErasing']
    pipe = Compose([TRANSFORMS.build(t) for t in steps[1:]])
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)
    torch.manual_seed(0)
    np.random.seed(0)
    x = pipe(dict(img=img, img_shape=(300, 280), ori_shape=(300, 280)))['inputs']
    assert x.shape == (2, 3, 224, 224)
    assert not torch.equal(x[1], x[0].flip(-1))  # another crop of the flipped image
