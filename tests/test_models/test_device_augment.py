"""Device-side augmentation (mmfer/models/batch_augments.py, FERDataPreprocessor.device_augments):
equivalence in distribution with the CPU transforms, exactness of resize + normalisation against
the CPU pipeline, seeding, eval mode untouched, multi-view refusal. All on CPU tensors."""
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample
from torchvision import transforms as tv_transforms

from mmfer.models import (BatchHorizontalFlip, BatchRandomErasing, BatchResize,
                          FERDataPreprocessor)
from mmfer.registry import MODELS, TRANSFORMS

pytestmark = pytest.mark.usefixtures('one_thread')
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
NORM = dict(mean=MEAN, std=STD, to_rgb=True)


def _z(k, p, n):
    """|k/n − p| in binomial standard deviations."""
    return abs(k / n - p) / math.sqrt(p * (1 - p) / n)


def _images(n, h=100, w=100, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((h, w, 3)) * 255).astype(np.uint8) for _ in range(n)]


def _packed(imgs):
    """3×H×W uint8 tensors as PackInputs makes them (BGR)."""
    return [torch.from_numpy(np.ascontiguousarray(i.transpose(2, 0, 1))) for i in imgs]


def test_flip_rate_and_mirror():
    n, p = 4000, 0.3
    x = torch.arange(2.).view(1, 1, 1, 2).repeat(n, 3, 4, 1)
    g = torch.Generator().manual_seed(0)
    out = BatchHorizontalFlip(prob=p)(x, g)
    flipped = out[:, 0, 0, 0] == 1
    assert _z(int(flipped.sum()), p, n) < 4
    assert torch.equal(out[flipped], x[flipped].flip(-1))
    assert torch.equal(out[~flipped], x[~flipped])
    assert torch.equal(BatchHorizontalFlip(prob=0.0)(x, g), x)
    assert torch.equal(BatchHorizontalFlip(prob=1.0)(x, g), x.flip(-1))


def test_erasing_boxes_within_bounds_and_rate():
    n, h, w, p = 3000, 24, 30, 0.5
    scale, ratio = (0.02, 0.25), (0.3, 3.3)   # the DAN recipe
    op = BatchRandomErasing(prob=p, scale=scale, ratio=ratio, value=0.0)
    g = torch.Generator().manual_seed(1)
    x = torch.ones(n, 3, h, w)
    out = op(x, g)
    zero = out == 0
    erased = zero.flatten(1).any(1)
    assert _z(int(erased.sum()), p, n) < 4
    assert bool(((out == x) | zero).all())             # outside the box: untouched
    assert torch.equal(zero[:, 0], zero[:, 1]) and torch.equal(zero[:, 0], zero[:, 2])
    # every erased region is one axis-aligned rectangle whose size honours scale and ratio
    m = zero[:, 0]
    rows, cols = m.any(2), m.any(1)
    eh, ew = rows.sum(1), cols.sum(1)
    assert torch.equal(m.flatten(1).sum(1), eh * ew)  # full rectangle
    eh, ew = eh[erased].double(), ew[erased].double()
    # h = round(√(a·r)), w = round(√(a/r)): a, r are within ±0.5-pixel rounding of the bounds
    assert bool(((eh - 0.5) * (ew - 0.5) <= scale[1] * h * w + 1e-9).all())
    assert bool(((eh + 0.5) * (ew + 0.5) >= scale[0] * h * w - 1e-9).all())
    assert bool(((eh + 0.5) / (ew - 0.5) >= ratio[0]).all())
    assert bool(((eh - 0.5) / (ew + 0.5) <= ratio[1]).all())
    assert bool((eh < h).all() and (ew < w).all())


def test_erasing_matches_torchvision_distribution():
    """Box area fraction, log aspect and corner: means of N vectorised draws vs N draws of
    torchvision's sequential get_params agree within 4 standard errors."""
    n, h, w = 3000, 24, 24
    scale, ratio = (0.02, 0.33), (0.3, 3.3)   # large boxes: some attempts miss at 24 px
    op = BatchRandomErasing(prob=1.0, scale=scale, ratio=ratio)
    erase, top, left, bh, bw = op.get_params(n, h, w, torch.Generator().manual_seed(2))
    assert bool(erase.all())
    torch.manual_seed(3)
    shape_only = torch.empty(1).expand(3, h, w)
    tv = torch.tensor([tv_transforms.RandomErasing.get_params(
        shape_only, scale=scale, ratio=ratio, value=[0.])[:4] for _ in range(n)]).double()
    ours = torch.stack([top, left, bh, bw], 1).double()
    for name, f in [('area', lambda b: b[:, 2] * b[:, 3] / (h * w)),
                    ('log aspect', lambda b: torch.log(b[:, 2] / b[:, 3])),
                    ('top', lambda b: b[:, 0]), ('left', lambda b: b[:, 1])]:
        a, b = f(ours), f(tv)
        se = math.sqrt(a.var() / n + b.var() / n)
        assert abs(a.mean() - b.mean()) < 4 * se, (name, float(a.mean()), float(b.mean()))


def test_erasing_value_options():
    x = torch.ones(64, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    out = BatchRandomErasing(prob=1.0, value=(-1.0, -2.0, -3.0))(x, g)
    for c, v in enumerate((-1.0, -2.0, -3.0)):
        assert bool((out[:, c] == v).any()) and bool(((out[:, c] == v) | (out[:, c] == 1)).all())
    out = BatchRandomErasing(prob=1.0, value='random')(x, g)
    noise = out[out != 1]
    assert noise.numel() > 1000 and abs(float(noise.mean())) < 0.1
    assert abs(float(noise.std()) - 1) < 0.1
    with pytest.raises(ValueError, match='value'):
        BatchRandomErasing(value='mean')
    with pytest.raises(ValueError, match='scale'):
        BatchRandomErasing(scale=(0.3, 0.1))
    with pytest.raises(ValueError, match='prob'):
        BatchHorizontalFlip(prob=1.5)
    with pytest.raises(ValueError, match='interpolation'):
        BatchResize(64, interpolation='area')


@pytest.mark.parametrize('size,backend,antialias', [
    (64, 'cv2', False),      # SynthFER configs: mmcv Resize, cv2 INTER_LINEAR
    (64, 'pillow', True),    # PIL bilinear, shrinking (antialiased)
    (224, 'pillow', True),   # DAN / QCS recipes: PIL bilinear 100 → 224
])
def test_resize_normalise_equals_cpu_pipeline(size, backend, antialias):
    imgs = _images(4)
    cpu = [TRANSFORMS.build(dict(type='Resize', scale=(size, size), backend=backend,
                                 interpolation='bilinear')),
           TRANSFORMS.build(dict(type='PackInputs'))]
    packed = []
    for img in imgs:
        r = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        for t in cpu:
            r = t(r)
        packed.append(r['inputs'])
    ref = MODELS.build(dict(type='ClsDataPreprocessor', **NORM))(dict(inputs=packed))['inputs']
    pre = FERDataPreprocessor(**NORM, device_augments=[
        dict(type='BatchResize', size=size, antialias=antialias)], seed=0)
    out = pre(dict(inputs=_packed(imgs)), training=True)['inputs']
    assert out.shape == ref.shape == (4, 3, size, size)
    diff = (out - ref) * torch.tensor(STD).view(1, 3, 1, 1)   # in grey levels
    assert float(diff.abs().max()) <= 1.0 + 1e-3     # the CPU result is rounded to uint8
    assert float(diff.abs().mean()) < 0.35           # i.e. no shift of the sampling grid


def test_seeded_reproducible_and_seed_dependent():
    imgs = _packed(_images(8, 40, 40))
    ops = [dict(type='BatchResize', size=32), dict(type='BatchHorizontalFlip', prob=0.5),
           dict(type='BatchRandomErasing', prob=0.5, value='random')]

    def run(seed, global_seed=None):
        if global_seed is not None:
            torch.manual_seed(global_seed)
        pre = FERDataPreprocessor(**NORM, device_augments=ops, seed=seed)
        return [pre(dict(inputs=imgs), training=True)['inputs'] for _ in range(2)]

    a, b, c = run(5), run(5), run(6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], a[1])                 # the stream advances per batch
    # seed=None: drawn from torch's global generator (which mmengine's Runner seeds)
    d, e, f = run(None, 0), run(None, 0), run(None, 1)
    assert torch.equal(d[0], e[0]) and not torch.equal(d[0], f[0])


def test_eval_untouched_and_labels_kept():
    imgs = _packed(_images(3, 40, 40))
    samples = [DataSample().set_gt_label(i) for i in range(3)]
    ops = [dict(type='BatchResize', size=32), dict(type='BatchHorizontalFlip', prob=1.0),
           dict(type='BatchRandomErasing', prob=1.0)]
    pre = FERDataPreprocessor(**NORM, num_classes=7, device_augments=ops, seed=0)
    base = MODELS.build(dict(type='ClsDataPreprocessor', **NORM, num_classes=7))
    ev = pre(dict(inputs=imgs, data_samples=samples), training=False)
    assert torch.equal(ev['inputs'], base(dict(inputs=imgs), training=False)['inputs'])
    assert ev['inputs'].shape == (3, 3, 40, 40)       # no resize at eval either
    tr = pre(dict(inputs=imgs, data_samples=samples), training=True)
    assert tr['inputs'].shape == (3, 3, 32, 32)
    assert [int(s.gt_label) for s in tr['data_samples']] == [0, 1, 2]
    assert all('gt_score' not in s for s in tr['data_samples'])   # no one-hot conversion
    # prob 1 flip and erasing: = mirror of the resized, normalised image outside the box
    x = BatchResize(32)(torch.stack(imgs).float()).flip(1)
    ref = ((x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)).flip(-1)
    kept = tr['inputs'] != 0
    assert float((tr['inputs'] - ref)[kept].abs().max()) < 1e-5
    assert 0 < float((~kept).float().mean()) < 0.4


def test_mixed_sizes_and_bad_batches():
    imgs = _packed(_images(2, 40, 40)) + _packed(_images(1, 50, 30))
    pre = FERDataPreprocessor(**NORM, device_augments=[dict(type='BatchResize', size=32)])
    assert pre(dict(inputs=imgs), training=True)['inputs'].shape == (3, 3, 32, 32)
    flip_only = FERDataPreprocessor(**NORM, device_augments=[dict(type='BatchHorizontalFlip')])
    with pytest.raises(ValueError, match='one size'):
        flip_only(dict(inputs=imgs), training=True)
    with pytest.raises(ValueError, match='MultiViewDataPreprocessor'):
        flip_only(dict(inputs=torch.zeros(2, 4, 3, 8, 8, dtype=torch.uint8)), training=True)


def test_option_errors():
    with pytest.raises(ValueError, match='list order'):
        FERDataPreprocessor(**NORM, device_augments=[dict(type='BatchRandomErasing'),
                                                     dict(type='BatchResize', size=8)])
    with pytest.raises(ValueError, match='batch_augments'):
        FERDataPreprocessor(**NORM, num_classes=7, device_augments=[dict(type='BatchResize', size=8)],
                            batch_augments=dict(augments=[dict(type='Mixup', alpha=0.8)]))
    with pytest.raises(ValueError, match='pad_size_divisor'):
        FERDataPreprocessor(**NORM, pad_size_divisor=32,
                            device_augments=[dict(type='BatchHorizontalFlip')])
    with pytest.raises(ValueError, match='multi_view_augments'):
        MODELS.build(dict(type='MultiViewDataPreprocessor', multi_view_augments='paired'))


def test_multi_view_refused_or_independent():
    views = torch.zeros(64, 2, 3, 4, 4, dtype=torch.uint8)
    views[..., :2] = 200                               # left half bright: flips are visible
    ops = [dict(type='BatchHorizontalFlip', prob=0.5)]
    refuse = MODELS.build(dict(type='MultiViewDataPreprocessor', **NORM, device_augments=ops))
    with pytest.raises(ValueError, match="multi_view_augments='independent'"):
        refuse(dict(inputs=views), training=True)
    ev = refuse(dict(inputs=views), training=False)['inputs']   # eval: no augmentation
    assert ev.shape == (64, 2, 3, 4, 4) and bool((ev[..., 0] > ev[..., 3]).all())
    indep = MODELS.build(dict(type='MultiViewDataPreprocessor', **NORM, device_augments=ops,
                              multi_view_augments='independent', seed=0))
    out = indep(dict(inputs=views), training=True)['inputs']
    assert out.shape == (64, 2, 3, 4, 4)
    flipped = out[:, :, 0, 0, 0] < out[:, :, 0, 0, 3]           # (N, V)
    assert 0 < int((flipped[:, 0] != flipped[:, 1]).sum()) < 64  # views drawn independently
    assert _z(int(flipped.sum()), 0.5, 128) < 4


def test_device_aug_configs_build():
    from mmfer.apis import build_model
    base = build_model(Config.fromfile('configs/baseline/r18_synthfer_device-aug.py'))
    pre = base.data_preprocessor
    assert type(pre) is FERDataPreprocessor
    assert [type(op) for op in pre.device_augments] == [BatchResize, BatchHorizontalFlip]
    assert pre.device_augments[0].size == (64, 64) and not pre.device_augments[0].antialias
    x = _packed(_images(2, 100, 100))
    samples = [DataSample().set_gt_label(i) for i in (3, 5)]
    data = pre(dict(inputs=x, data_samples=samples), training=True)
    assert data['inputs'].shape == (2, 3, 64, 64)
    losses = base(**data, mode='loss')   # the training forward runs on the device-side batch
    assert set(losses) == {'loss_ce'} and math.isfinite(float(losses['loss_ce']))
    dan = Config.fromfile('configs/dan/dan_r18_rafdb_device-aug.py')
    ops = dan.data_preprocessor.device_augments
    cpu = Config.fromfile('configs/dan/dan_r18_rafdb.py').train_pipeline
    erase = [t for t in cpu if t.type == 'NormalizedRandomErasing'][0]
    flip = [t for t in cpu if t.type == 'RandomFlip'][0]
    assert ops[0].prob == flip.prob and ops[1].prob == erase.prob
    assert tuple(ops[1].scale) == tuple(erase.scale) and tuple(ops[1].ratio) == tuple(erase.ratio)
    assert ops[1].value == erase.value
    assert [t.type for t in dan.train_pipeline] == ['LoadFERImage', 'Resize', 'RandomApply',
                                                    'PackInputs']
