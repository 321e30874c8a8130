"""Per-position K = 2 K-means of LAN's guidance map (mmfer/utils/kmeans.py): the toy of
specs/lan.md, tie / empty-cluster rules, determinism, exact == memmap bit for bit, minibatch
tolerance, the memory estimate and budget, and minibatch memory independent of N."""
import tracemalloc

import numpy as np
import pytest
import torch

from mmfer.utils import kmeans as km


def toy_features():
    return np.array([0, 0.1, 0.2, 5, 5.1], np.float32).reshape(5, 1, 1)  # N×P×D


def test_toy_of_the_spec():
    gc = km.fit_exact(toy_features(), seed=0)
    centers = gc.centers[0, :, 0]
    att = int(gc.attentive[0])
    assert sorted(centers.tolist()) == pytest.approx([0.1, 5.05], abs=1e-6)
    assert centers[att] == pytest.approx(5.05, abs=1e-6)  # minority {5, 5.1}
    assert sorted(gc.sizes[0].tolist()) == [2, 3]
    g = gc.assign(torch.from_numpy(toy_features()))
    assert g.shape == (5, 1, 1) and g.flatten().tolist() == [0, 0, 0, 1, 1]
    # 4.0: 1.05 from the attentive center, 3.9 from the general one; 2.5: 2.55 vs 2.4
    new = torch.tensor([4.0, 2.5]).reshape(2, 1, 1)
    assert gc.assign(new).flatten().tolist() == [1.0, 0.0]


def test_tie_goes_to_the_center_farther_from_the_mean():
    # sizes 2 and 2, centers 0.5 and 10.5; mean of all features 5.5 → equal distances? no:
    # features (0, 1, 10, 11) + mean 5.5: both at 5.0 → cluster 1 (Eq. 4's π²). Shift one.
    sizes = np.array([2, 2])
    assert km.attentive_cluster(np.array([[0.5], [10.5]]), sizes, np.array([5.5])) == 1
    assert km.attentive_cluster(np.array([[0.5], [10.5]]), sizes, np.array([6.0])) == 0
    assert km.attentive_cluster(np.array([[0.5], [10.5]]), np.array([3, 1]),
                                np.array([0.])) == 1  # minority wins over distance
    x = np.array([0, 1, 10, 13], np.float32).reshape(4, 1)  # mean 6 → center 0.5 is farther
    centers, sizes, att = km.cluster_position(x, seed=0)
    assert sizes.tolist() == [2, 2] and centers[att, 0] == pytest.approx(0.5)


def test_degenerate_position_gives_zero_guidance_with_a_warning():
    feats = np.concatenate([toy_features(), np.full((5, 1, 1), 3.0, np.float32)], axis=1)
    with pytest.warns(UserWarning, match='position 1.*G = 0'):
        gc = km.fit_exact(feats, seed=0)
    assert gc.attentive.tolist()[1] == -1
    g = gc.assign(torch.from_numpy(feats))  # P = 2 → map 1×2
    assert g[:, 0, 1].tolist() == [0] * 5 and g[:, 0, 0].tolist() == [0, 0, 0, 1, 1]


def synthetic(n=600, p=4, d=8, seed=0, half=True):
    """Two blobs per position (a 20 % minority), float16-representable when ``half``."""
    rng = np.random.default_rng(seed)
    minority = rng.random((n, p)) < 0.2
    x = rng.normal(0, 1, (n, p, d)) + 4.0 * minority[..., None]
    x = x.astype(np.float32)
    return x.astype(np.float16).astype(np.float32) if half else x


def test_deterministic_and_seed_dependent_init():
    x = synthetic()
    a, b = km.fit_exact(x, seed=3), km.fit_exact(x, seed=3)
    assert np.array_equal(a.centers, b.centers) and np.array_equal(a.attentive, b.attentive)
    assert (a.attentive >= 0).all()
    # the attentive cluster is the 20 % blob around +4
    assert all(a.sizes[p, a.attentive[p]] < 0.3 * 600 for p in range(4))
    assert all(a.centers[p, a.attentive[p]].mean() > 3 for p in range(4))


def test_exact_equals_memmap_bit_for_bit(tmp_path):
    x = synthetic()
    exact = km.fit_exact(x, seed=0)
    store = km.MemmapStore(str(tmp_path / 'feats.npy'), *x.shape)
    for s in range(0, len(x), 128):  # written batch by batch as the hook does
        store.write(np.arange(s, min(s + 128, len(x))), x[s:s + 128])
    store.flush()
    assert store.data.dtype == np.float16 and store.data.shape == (4, 600, 8)
    mm = km.fit_store(store, seed=0)
    assert np.array_equal(exact.centers, mm.centers)
    assert np.array_equal(exact.sizes, mm.sizes) and np.array_equal(exact.attentive,
                                                                    mm.attentive)


# minibatch: stated tolerance (docs/lan.md): centers within 0.05 of the exact ones (≈ 1 % of the
# 4.0 blob distance) and ≥ 99 % of the guidance bits equal on this set
MB_CENTER_TOL = 0.05
MB_AGREEMENT = 0.99


def test_minibatch_within_tolerance_of_exact():
    x = synthetic(n=2000, half=False)
    exact = km.fit_exact(x, seed=0)
    mb = km.fit_minibatch(lambda: km.iter_chunks(x, 100), seed=0, passes=3, init_size=256)
    assert np.array_equal(exact.attentive >= 0, mb.attentive >= 0)
    for p in range(4):
        e = exact.centers[p, exact.attentive[p]]
        m = mb.centers[p, mb.attentive[p]]
        assert np.abs(e - m).max() < MB_CENTER_TOL
    xt = torch.from_numpy(x)
    agree = float((exact.assign(xt) == mb.assign(xt)).float().mean())
    assert agree >= MB_AGREEMENT


def _minibatch_peak(n):
    def stream():
        for s in range(0, n, 250):
            yield synthetic(n=250, seed=s, half=False)
    tracemalloc.start()
    km.fit_minibatch(stream, seed=0, passes=1, init_size=250, restarts=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_minibatch_peak_memory_does_not_grow_with_n():
    small, large = _minibatch_peak(2_000), _minibatch_peak(20_000)
    # 20,000 maps held at once would be 20,000 × 4 × 8 × 4 B = 2.56 MB more
    assert large < small * 1.2 + 50_000, (small, large)


def test_memory_estimate_and_budget():
    assert km.feature_memory_bytes(12_271) == 12_271 * 49 * 512 * 4 == 1_231_419_392
    line = km.memory_estimate(12_271)
    assert '1,231,419,392 bytes' in line and '615,709,696 bytes float16' in line
    assert km.feature_memory_bytes(287_651, itemsize=2) == 14_433_176_576  # AffectNet-8 memmap
    with pytest.raises(MemoryError, match='kmeans_backend="memmap"') as e:
        km.ExactStore(287_651, 49, 512, memory_budget=4 * 1024 ** 3)
    assert '28,866,353,152 bytes' in str(e.value) and 'minibatch' in str(e.value)
    assert km.check_exact_budget(12_271, 49, 512, 4 * 1024 ** 3) == 1_231_419_392


def test_centers_round_trip_through_checkpoint_meta():
    x = synthetic(n=100, p=49, d=4)
    gc = km.fit_exact(x, seed=0, restarts=2)
    back = km.GuidanceCenters.from_meta(gc.to_meta())
    assert back.map_size == (7, 7)
    assert np.array_equal(back.centers, gc.centers) and np.array_equal(back.attentive,
                                                                       gc.attentive)
    maps = torch.from_numpy(x).transpose(1, 2).reshape(100, 4, 7, 7)  # N×D×H×W
    assert torch.equal(back.assign(maps), gc.assign(torch.from_numpy(x)).reshape(100, 7, 7))
    with pytest.raises(ValueError, match='recompute them'):
        gc.assign(torch.zeros(1, 4, 6, 6))


def test_flip_guidance_reverses_columns():
    g = torch.arange(49.).reshape(1, 7, 7)
    f = km.flip_guidance(g)
    assert torch.equal(f[0, :, 0], g[0, :, 6]) and torch.equal(f[0, 3, :], g[0, 3].flip(0))
