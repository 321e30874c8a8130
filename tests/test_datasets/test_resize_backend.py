"""Resize backend (issue 15 part 4, docs/data_loading.md): mmcv ``Resize`` (what
``dict(type='Resize')`` builds under ``default_scope='mmfer'``) with ``backend='cv2'`` vs
``'pillow'`` on rendered SynthFER faces; pillow is torchvision's PIL resize exactly; the configs
that reproduce an official recipe resize with PIL, the SynthFER ones say ``backend='cv2'``."""
import glob
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def faces():
    """Three 100×100 BGR SynthFER faces (the size the demo writes, that of RAF-DB's aligned
    images)."""
    from mmfer.datasets import SynthFER
    ds = SynthFER(split='test', num_samples=3, img_size=100, pipeline=[])
    return [ds[i]['img'] for i in range(3)]


def _resize(img, size, backend):
    from mmengine.registry import init_default_scope

    from mmfer.registry import TRANSFORMS
    init_default_scope('mmfer')
    t = TRANSFORMS.build(dict(type='Resize', scale=(size, size), backend=backend))
    return t(dict(img=img.copy()))['img']


def test_resize_builds_mmcv_resize_with_cv2_default():
    from mmcv.transforms import Resize
    from mmengine.registry import init_default_scope

    from mmfer.registry import TRANSFORMS
    init_default_scope('mmfer')
    t = TRANSFORMS.build(dict(type='Resize', scale=(64, 64)))
    assert type(t) is Resize and t.backend == 'cv2' and t.interpolation == 'bilinear'


@pytest.mark.parametrize('size', [224, 112])
def test_upsampling_backends_within_one_grey_level(faces, size):
    for img in faces:
        a, b = _resize(img, size, 'cv2'), _resize(img, size, 'pillow')
        assert a.shape == b.shape == (size, size, 3) and a.dtype == b.dtype == np.uint8
        d = np.abs(a.astype(int) - b.astype(int))
        assert d.max() <= 1
        assert 0 < d.mean() < 0.5  # different, but rarely


def test_downsampling_backends_differ(faces):
    """100 → 64 (the demo's resize): PIL widens its bilinear filter when shrinking (antialias),
    cv2's INTER_LINEAR samples 2×2 pixels, so the outputs are far apart at edges."""
    a = [_resize(img, 64, 'cv2') for img in faces]
    b = [_resize(img, 64, 'pillow') for img in faces]
    assert all(x.shape == y.shape == (64, 64, 3) for x, y in zip(a, b))
    d = np.concatenate([np.abs(x.astype(int) - y.astype(int)).ravel() for x, y in zip(a, b)])
    assert d.max() > 10
    assert 0.5 < d.mean() < 5


@pytest.mark.parametrize('size', [224, 64])
def test_pillow_backend_is_torchvision_resize(faces, size):
    """mmcv's pillow resize of a BGR array = torchvision.transforms.Resize of the RGB PIL image
    (the official pipelines), channel order aside: bit-exact."""
    from PIL import Image
    from torchvision import transforms
    tv = transforms.Resize((size, size))  # bilinear on PIL images
    for img in faces:
        ours = _resize(img, size, 'pillow')
        ref = np.asarray(tv(Image.fromarray(np.ascontiguousarray(img[..., ::-1]))))[..., ::-1]
        np.testing.assert_array_equal(ours, ref)


def _resizes(node):
    if isinstance(node, dict):
        if 'Resize' in str(node.get('type', '')):
            yield node
        for v in node.values():
            yield from _resizes(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _resizes(v)


def _pipelines(cfg):
    out = []
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            ds = loader['dataset']
            while 'pipeline' not in ds:  # through dataset wrappers
                ds = ds['dataset']
            out.append((split, ds['pipeline']))
    return out


OFFICIAL_PIL = (sorted(glob.glob(osp.join(ROOT, 'configs', 'dan', 'dan_r18_*.py')))
                + sorted(glob.glob(osp.join(ROOT, 'configs', 'qcs', '*.py'))))
OFFICIAL_PIL = [p for p in OFFICIAL_PIL if 'synthfer' not in osp.basename(p)]


def test_official_recipe_list_is_complete():
    names = {osp.basename(p) for p in OFFICIAL_PIL}
    assert {'dan_r18_rafdb.py', 'dan_r18_affectnet7.py', 'dan_r18_affectnet8.py',
            'dan_r18_sfew.py', 'qcs_rafdb.py', 'dcs_rafdb.py', 'poster_base_rafdb.py',
            'qcs_ferplus.py', 'qcs_affectnet7.py', 'dcs_affectnet8.py'} <= names


@pytest.mark.parametrize('path', OFFICIAL_PIL, ids=osp.basename)
def test_official_recipes_resize_with_pil(path):
    """DAN: mmcv Resize(backend='pillow'); QCS / DCS / POSTER++: torchvision/Resize after
    NumpyToPIL — both PIL bilinear, as the official torchvision pipelines."""
    cfg = Config.fromfile(path)
    seen = 0
    for split, pipe in _pipelines(cfg):
        for r in _resizes(pipe):
            seen += 1
            if r['type'] == 'torchvision/Resize':
                types = [t['type'] for t in pipe]
                assert types.index('NumpyToPIL') < types.index('torchvision/Resize'), (path, split)
            else:
                assert r['type'] == 'Resize' and r.get('backend') == 'pillow', (path, split, r)
    assert seen >= 2, path


SYNTHFER = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*synthfer*.py'),
                                       recursive=True))


@pytest.mark.parametrize('path', SYNTHFER, ids=lambda p: osp.relpath(p, ROOT))
def test_synthfer_configs_say_cv2(path):
    """Every mmcv Resize of a SynthFER config names its backend (cv2: the default it always had,
    so recorded SynthFER results are unchanged)."""
    cfg = Config.fromfile(path)
    for split, pipe in _pipelines(cfg):
        for r in _resizes(pipe):
            assert r['type'] == 'Resize' and r.get('backend') == 'cv2', (path, split, r)
