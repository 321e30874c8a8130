"""SynthFER renderer and dataset: determinism, geometry, class balance, label noise, subsets."""
import gc

import numpy as np
import pytest
import torch

from mmfer.datasets.synthfer import SynthFER, assign_labels, class_counts, noisy_labels
from mmfer.datasets.synthfer_render import (A, CLASSES, FACE_SCALE, IMAGE_CENTRE,
                                            RAFDB_TRAIN_COUNTS, ROT_ORIGIN, STRONG_OCCLUDERS,
                                            WEAK_INTENSITY, build_geometry, render,
                                            rotation_matrix, sample_meta, sample_params)
from mmfer.registry import DATASETS

gc.freeze()   # cheap gc.collect() in mmengine's BaseDataset (see tests/conftest.py)

# iBUG-68 left/right mirror pairs (jaw, brows, eyes, nose base, mouth)
MIRROR = ([(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)]
          + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46), (31, 35), (32, 34)]
          + [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (60, 64), (61, 63), (67, 65)])
CLEAN = dict(occlusion_prob=0.0, blur_prob=0.0, noise_prob=0.0, jpeg_prob=0.0)


def _posed(p, yaw=0.0, pitch=0.0, roll=0.0):
    return dict(p, pose=(yaw, pitch, roll))


def test_render_is_deterministic_and_shaped():
    for i in range(3):
        a_img, a_ann = render(sample_params(7, i, split='test'), 64)
        b_img, b_ann = render(sample_params(7, i, split='test'), 64)
        assert a_img.shape == (64, 64, 3) and a_img.dtype == np.uint8
        assert a_img.tobytes() == b_img.tobytes()
        np.testing.assert_array_equal(a_ann['landmarks'], b_ann['landmarks'])
        assert a_ann['landmarks'].shape == (68, 2) and a_ann['pose'].shape == (3, )
    # different index, seed or split → a different image
    ref = render(sample_params(7, 0, split='test'), 64)[0]
    for p in (sample_params(7, 1, split='test'), sample_params(8, 0, split='test'),
              sample_params(7, 0, split='train')):
        assert np.abs(render(p, 64)[0].astype(int) - ref).mean() > 5


def test_dataset_same_bytes_any_order_and_worker_count():
    kw = dict(num_samples=6, split='train', img_size=48, seed=3)
    ds = SynthFER(**kw)
    forward = [ds[i]['img'].tobytes() for i in range(6)]
    backward = [SynthFER(**kw)[i]['img'].tobytes() for i in reversed(range(6))][::-1]
    assert forward == backward
    loader = torch.utils.data.DataLoader(SynthFER(**kw), batch_size=None, num_workers=2,
                                         collate_fn=lambda x: x)
    assert [r['img'].tobytes() for r in loader] == forward
    # a sample does not depend on the samples drawn before it
    assert sample_params(3, 4, 0)['pose'] == sample_params(3, 4, 0)['pose']


def test_projection_matches_hand_computation_and_yaw_direction():
    p = sample_params(0, 11, label=6, nuisance=CLEAN)
    size = 112
    P, _ = build_geometry(p)
    pts, sl = P.stack(p['id'])
    tip = pts[sl['nose']][3]                        # landmark 30 (nose tip) in the head frame
    origin = np.array(ROT_ORIGIN)
    s = size * FACE_SCALE * p['scale']
    cx = size * (IMAGE_CENTRE[0] + p['shift'][0])
    xs = {}
    for yaw in (-40.0, 0.0, 40.0):
        ann = render(_posed(p, yaw), size)[1]
        t = np.deg2rad(yaw)
        expect = cx + s * (np.cos(t) * (tip[0] - origin[0]) + np.sin(t) * (tip[2] - origin[2]))
        assert ann['landmarks'][30, 0] == pytest.approx(expect, abs=1e-3)
        xs[yaw] = ann['landmarks'][30, 0]
    # positive yaw: the nose tip moves to the image right, by more than a tenth of the image
    assert xs[40.0] - xs[0.0] > 0.1 * size
    assert xs[-40.0] - xs[0.0] < -0.1 * size
    # it also moves relative to the face (the mean of the jaw contour)
    jaw = {y: render(_posed(p, y), size)[1]['landmarks'][:17, 0].mean() for y in (0.0, 40.0)}
    assert (xs[40.0] - jaw[40.0]) - (xs[0.0] - jaw[0.0]) > 0.05 * size


def test_landmarks_inside_face_box_and_frontal_symmetry():
    for i in range(8):
        p = sample_params(1, i, split='test')
        img, ann = render(p, 96)
        lm, box = ann['landmarks'], ann['face_box']
        assert lm.shape == (68, 2)
        assert (lm[:, 0] >= box[0] - 0.5).all() and (lm[:, 0] <= box[2] + 0.5).all()
        assert (lm[:, 1] >= box[1] - 0.5).all() and (lm[:, 1] <= box[3] + 0.5).all()
        assert (box[2] - box[0]) > 0.4 * 96 and (box[3] - box[1]) > 0.5 * 96
        # the 68 points keep their iBUG order: brows above eyes above nose tip above mouth
        assert lm[17:27, 1].mean() < lm[36:48, 1].mean() < lm[30, 1] < lm[48:68, 1].mean()
        # frontal: every left/right pair mirrors about the vertical through the nose bridge
        lmf = render(_posed(p), 96)[1]['landmarks']
        c = lmf[27, 0]
        for a, b in MIRROR:
            assert (lmf[a, 0] - c) + (lmf[b, 0] - c) == pytest.approx(0, abs=0.02)
            assert lmf[a, 1] == pytest.approx(lmf[b, 1], abs=0.02)
    # at +50° yaw the image-right jaw (far side) turns away, the near side stays visible
    ann = render(_posed(sample_params(1, 0, nuisance=CLEAN), 50.0), 96)[1]
    assert ann['visible'][:4].all() and not ann['visible'][13:17].any()


def test_expressions_move_the_right_landmarks():
    def frontal(label, intensity=1.0):
        p = sample_params(2, 5, label=label, nuisance=CLEAN, intensity_range=(intensity, intensity))
        return render(_posed(p), 112)[1]['landmarks']

    neutral, happy, sad = frontal(6), frontal(3), frontal(4)
    surprise, anger = frontal(0), frontal(5)

    def corner_lift(lm):    # > 0 when the lip corners are above the lips' centre line
        return (lm[51, 1] + lm[57, 1]) / 2 - (lm[48, 1] + lm[54, 1]) / 2

    def brow_eye(lm):       # brow-to-eye distance
        return lm[36:48, 1].mean() - lm[17:27, 1].mean()

    assert corner_lift(happy) > corner_lift(neutral) + 1.5
    assert corner_lift(sad) < corner_lift(neutral) - 1.0
    assert surprise[66, 1] - surprise[62, 1] > 6 > neutral[66, 1] - neutral[62, 1]   # jaw drop
    assert brow_eye(surprise) > brow_eye(neutral) + 2
    assert brow_eye(anger) < brow_eye(neutral) - 1
    p = sample_params(2, 5, label=3, intensity_range=(1.0, 1.0))
    assert p['actions'][A['lip_corner_pull']] > 0.6 and p['intensity'] == 1.0


def test_class_counts_uniform_and_rafdb():
    u = class_counts(10000, 'uniform')
    assert u.sum() == 10000 and u.max() - u.min() <= 1
    r = class_counts(10000, 'rafdb')
    target = np.array(RAFDB_TRAIN_COUNTS) / sum(RAFDB_TRAIN_COUNTS)
    assert r.sum() == 10000 and np.abs(r / 10000 - target).max() <= 1e-4
    assert class_counts(12271, 'rafdb').tolist() == list(RAFDB_TRAIN_COUNTS)
    labels = assign_labels(700, 0, 'train', 'rafdb')
    assert np.bincount(labels, minlength=7).tolist() == class_counts(700, 'rafdb').tolist()
    assert not (labels[:-1] <= labels[1:]).all()          # shuffled, not sorted
    ds = DATASETS.build(dict(type='SynthFER', num_samples=700, class_balance='rafdb'))
    expect = class_counts(700, 'rafdb').tolist()
    assert np.bincount(ds.get_gt_labels(), minlength=7).tolist() == expect
    assert ds.metainfo['classes'] == CLASSES
    with pytest.raises(ValueError, match='class_balance'):
        class_counts(10, 'affectnet')


@pytest.mark.parametrize('rate', [0.1, 0.2, 0.3])
def test_label_noise_rate(rate):
    clean = assign_labels(10000, 0, 'train')
    noisy = noisy_labels(clean, rate, 0, 'train')
    flipped = noisy != clean
    assert abs(flipped.mean() - rate) <= 0.01
    # a flipped label is never the clean one, and the new classes are spread over the other six
    assert flipped.sum() == round(rate * 10000)
    for c in range(7):
        assert np.bincount(noisy[flipped & (clean == c)], minlength=7)[c] == 0
    # the offset (new − old) mod 7 is uniform on 1..6 (≥ 1000 flips: 5σ below a 25 % deviation)
    offsets = np.bincount((noisy - clean)[flipped] % 7, minlength=7)
    expect = flipped.sum() / 6
    assert offsets[0] == 0 and np.abs(offsets[1:] - expect).max() < 0.25 * expect
    assert (noisy_labels(clean, rate, 0, 'train') == noisy).all()
    assert (noisy_labels(clean, rate, 1, 'train') != noisy).any()


def test_dataset_noise_keeps_clean_label():
    ds = SynthFER(num_samples=200, split='train', img_size=32, label_noise=0.2)
    y, yc = ds.get_gt_labels(), ds.get_clean_labels()
    assert (y != yc).sum() == 40
    k = int(np.flatnonzero(y != yc)[0])
    res = ds[k]
    assert res['gt_label'] == y[k] and res['gt_label_clean'] == yc[k] != res['gt_label']
    # the image is rendered from the clean label: identical to the noise-free dataset's
    clean_ds = SynthFER(num_samples=200, split='train', img_size=32)
    assert res['img'].tobytes() == clean_ds[k]['img'].tobytes()


@pytest.mark.parametrize('subset', ['pose30', 'pose45', 'occlusion', 'weak'])
def test_subsets_satisfy_their_predicate(subset):
    ds = SynthFER(num_samples=40, split='test', img_size=48, subset=subset)
    full = SynthFER(num_samples=40, split='test', img_size=48)
    for i in range(40):
        info, ref = ds.get_data_info(i), full.get_data_info(i)
        # paired with the full split: same label and identity
        assert info['gt_label'] == ref['gt_label'] and info['identity'] == ref['identity']
        if subset.startswith('pose'):
            lim = float(subset[4:])
            assert abs(info['pose'][0]) > lim and abs(info['pose'][0]) <= 60
        elif subset == 'weak':
            if info['gt_label'] == 6:
                assert info['intensity'] == 0
            else:
                assert WEAK_INTENSITY[0] <= info['intensity'] <= WEAK_INTENSITY[1]
        else:
            assert info['occluder'] in STRONG_OCCLUDERS
    for i in range(0, 40, 8):    # the rendered ground truth agrees with the entry
        res = ds[i]
        np.testing.assert_allclose(res['pose'], ds.get_data_info(i)['pose'], atol=1e-4)
        if subset == 'occlusion':
            assert res['occluder'] in STRONG_OCCLUDERS and res['landmarks_occluded'].sum() >= 3
    # the full split has the predicate only sometimes
    yaw = np.abs([full.get_data_info(i)['pose'][0] for i in range(40)])
    assert (yaw <= 30).any()


def test_dataset_results_and_pipeline():
    ds = DATASETS.build(dict(type='SynthFER', num_samples=5, split='val', img_size=40,
                             pipeline=[dict(type='PackInputs')]))
    raw = ds.render_sample(2)
    img, ann = render(ds.params(2), 40)
    assert raw['img'].shape == (40, 40, 3) and raw['img_shape'] == (40, 40) == raw['ori_shape']
    np.testing.assert_array_equal(raw['img'], img[:, :, ::-1])     # stored BGR
    np.testing.assert_array_equal(raw['landmarks'], ann['landmarks'])
    assert raw['identity'] == ann['identity'] >= 1_000_000          # val identities offset
    meta = sample_meta(0, 2, raw['gt_label_clean'], split='val')
    assert raw['intensity'] == meta['intensity']
    assert tuple(raw['pose']) == pytest.approx(meta['pose'])
    out = ds[2]
    assert out['inputs'].shape == (3, 40, 40) and out['inputs'].dtype == torch.uint8
    assert int(out['data_samples'].gt_label) == raw['gt_label']
    np.testing.assert_allclose(rotation_matrix(10, -5, 3) @ rotation_matrix(10, -5, 3).T, np.eye(3),
                               atol=1e-12)


def test_bad_options_raise():
    with pytest.raises(ValueError, match='split'):
        SynthFER(num_samples=4, split='validation')
    with pytest.raises(ValueError, match='subset'):
        SynthFER(num_samples=4, subset='pose60')
    with pytest.raises(ValueError, match='img_size'):
        SynthFER(num_samples=4, img_size=16)
    with pytest.raises(ValueError, match='label_noise'):
        SynthFER(num_samples=4, label_noise=1.5)
    with pytest.raises(ValueError, match='nuisance'):
        SynthFER(num_samples=4, nuisance=dict(occlusion_probability=0.5))
    with pytest.raises(ValueError, match='ann_file'):
        SynthFER(num_samples=4, ann_file='x.txt')
