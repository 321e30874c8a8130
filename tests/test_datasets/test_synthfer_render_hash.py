"""Byte-level regression of the SynthFER renderer and of SynthFER's labels.

The literals below were recorded from the single-file renderer (``synthfer_render.py`` at
ccb3064, numpy 1.26.4, OpenCV 4.11.0) before it was split into the
``mmfer/datasets/synthfer_render/`` package, and from ``synthfer.corrupt_labels`` before SynthFER's
label noise moved to :func:`mmfer.datasets.label_noise.corrupt_labels`. Any change of a rendered
pixel, landmark, annotation, sampled scalar or label changes a digest.

If a digest differs after an intended change of the renderer, re-record it with
``python tests/test_datasets/test_synthfer_render_hash.py`` and say why in the commit; if it differs
with unchanged code, check the numpy / OpenCV versions first (drawing and JPEG are integer code,
but the geometry is float64 numpy).
"""
import hashlib

import numpy as np

from mmfer.datasets.synthfer import SynthFER
from mmfer.datasets.synthfer_render import (WEAK_INTENSITY, render, sample_meta,
                                            sample_params)

# (split, seed, label, size, extra sample_params options) of the 50 faces: the default
# distribution at 112 px (4 per class), then the subsets SynthFER offers (its SUBSETS options),
# other splits and seeds, the smallest and largest sizes and every degradation forced on.
FACES = (
    [('train', 0, i % 7, 112, {}) for i in range(28)]
    + [('val', 1, i % 7, 64, dict(occlusion='strong')) for i in range(7)]
    + [('test', 2, i % 7, 96, dict(min_abs_yaw=45.0)) for i in range(7)]
    + [('train', 3, i % 7, 32, dict(intensity_range=WEAK_INTENSITY)) for i in range(7)]
    + [('train', 4, 3, 256, dict(nuisance=dict(blur_prob=1.0, noise_prob=1.0, jpeg_prob=1.0,
                                               occlusion_prob=1.0)))])
# one face per expression rendered again at a second size (same parameters as FACES[0..6])
SECOND_SIZE = 200

RENDER_SHA1 = 'c1e60005f0ddc70377c3cbd07cc9dc8be74c5475'
LABELS_SHA1 = '053171e47f4023976c7468f330ef9b05b1965c79'
LABEL_NOISE_SHA1 = 'b73e903196736847e5643ccf4cc78758f840cfc9'


def _update(h, *arrays):
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f'{a.dtype.str}{a.shape}'.encode())
        h.update(a.tobytes())


def _update_ann(h, img, ann):
    _update(h, img, ann['landmarks'], ann['pose'], ann['face_box'], ann['visible'],
            ann['occluded'], ann['actions'])
    h.update(repr((ann['intensity'], ann['label'], ann['identity'], ann['occluder'])).encode())


def render_digest() -> str:
    """SHA-1 over the 50 faces of ``FACES`` and 7 faces at ``SECOND_SIZE``: image bytes,
    landmarks, pose, face box, visibility / occlusion flags, actions, scalars, and the
    :func:`sample_meta` record of each (what ``SynthFER.load_data_list`` stores)."""
    h = hashlib.sha1()
    params = []
    for index, (split, seed, label, size, opts) in enumerate(FACES):
        p = sample_params(seed, index, label, split=split, **opts)
        params.append(p)
        img, ann = render(p, size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        _update_ann(h, img, ann)
        h.update(repr(sorted(sample_meta(seed, index, label, split=split, **opts).items()))
                 .encode())
    for p in params[:7]:
        _update_ann(h, *render(p, SECOND_SIZE))
    return h.hexdigest()


def labels_digest() -> str:
    """SHA-1 over SynthFER's clean and noisy training labels for several seeds, rates, splits
    and class balances (the labels the SynthFER docs' figures were measured on)."""
    h = hashlib.sha1()
    for split, seed, n, rate, balance in [('train', 0, 1200, 0.2, 'uniform'),
                                          ('train', 0, 1200, 0.4, 'rafdb'),
                                          ('train', 5, 777, 0.3, 'uniform'),
                                          ('val', 1, 500, 0.1, 'rafdb'),
                                          ('test', 2, 301, 0.05, 'uniform'),
                                          ('train', 0, 10, 0.5, 'uniform')]:
        ds = SynthFER(num_samples=n, split=split, seed=seed, label_noise=rate,
                      class_balance=balance, img_size=32, lazy_init=True)
        ds.full_init()
        _update(h, ds.get_clean_labels().astype(np.int64), ds.get_gt_labels().astype(np.int64))
    return h.hexdigest()


def label_noise_digest() -> str:
    """SHA-1 over :func:`mmfer.datasets.label_noise.corrupt_labels`'s ``'bernoulli'`` and
    ``'exact'`` draws (``LabelNoiseDataset``'s modes) for a few seeds, ratios and class counts."""
    from mmfer.datasets.label_noise import corrupt_labels
    h = hashlib.sha1()
    labels = np.arange(1000) % 7
    for mode in ('bernoulli', 'exact'):
        for seed, ratio, k in [(0, 0.2, 7), (3, 0.35, 7), (1, 0.5, 8), (2, 0.0, 7), (4, 1.0, 7)]:
            _update(h, corrupt_labels(labels % k, k, ratio, seed, mode))
    return h.hexdigest()


def test_render_bytes_unchanged():
    assert render_digest() == RENDER_SHA1


def test_synthfer_labels_unchanged():
    assert labels_digest() == LABELS_SHA1


def test_label_noise_modes_unchanged():
    assert label_noise_digest() == LABEL_NOISE_SHA1


if __name__ == '__main__':
    print('RENDER_SHA1 =', repr(render_digest()))
    print('LABELS_SHA1 =', repr(labels_digest()))
    print('LABEL_NOISE_SHA1 =', repr(label_noise_digest()))
