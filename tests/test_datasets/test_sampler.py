import numpy as np
import pytest

import mmfer.datasets.samplers.class_balanced as cb
from mmfer.datasets.samplers.class_balanced import ClassBalancedSampler
from mmfer.registry import DATA_SAMPLERS


class Labels:
    """Minimal dataset: 900 / 90 / 10 samples of classes 0 / 1 / 2."""

    def __init__(self):
        self.labels = np.repeat([0, 1, 2], [900, 90, 10])

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return self.labels


def make(monkeypatch, rank, world, **kw):
    monkeypatch.setattr(cb, 'get_dist_info', lambda: (rank, world))
    return ClassBalancedSampler(Labels(), seed=7, **kw)


def test_uniform_class_frequencies_and_size(monkeypatch):
    s = make(monkeypatch, 0, 1, num_samples=6000)
    idx = list(s)
    assert len(idx) == len(s) == 6000
    freq = np.bincount(Labels().labels[idx], minlength=3) / 6000
    assert np.all(np.abs(freq - 1 / 3) < 0.03), freq  # vs 0.90 / 0.09 / 0.01 without balancing
    np.testing.assert_allclose(s.weights[[0, 900, 990]].numpy(), [1 / 900, 1 / 90, 1 / 10])
    assert len(make(monkeypatch, 0, 1)) == 1000               # default: N per epoch
    assert len(make(monkeypatch, 0, 1, num_samples=1 / 12)) == 83  # QCS: ⌊N/12⌋
    assert len(make(monkeypatch, 0, 1, num_samples=np.int64(50))) == 50
    with pytest.raises(ValueError, match='positive int'):
        make(monkeypatch, 0, 1, num_samples=0)


def test_ranks_share_one_global_draw(monkeypatch):
    r0 = make(monkeypatch, 0, 2, num_samples=1001)
    r1 = make(monkeypatch, 1, 2, num_samples=1001)
    assert (r0.total_size, len(r0), len(r1)) == (1002, 501, 501)  # round_up pads one
    a, b = list(r0), list(r1)
    glob = r0.global_indices().tolist()
    assert glob == r1.global_indices().tolist()
    # disjoint shares: the interleaving of the two ranks' lists is exactly the global draw
    merged = [None] * 1002
    merged[0::2], merged[1::2] = a, b
    assert merged == glob
    r1n = make(monkeypatch, 1, 2, num_samples=1001, round_up=False)
    assert len(r1n) == len(list(r1n)) == 500


def test_epochs_are_deterministic(monkeypatch):
    s = make(monkeypatch, 0, 1, num_samples=200)
    e0 = list(s)
    assert list(s) == e0
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0
    other = make(monkeypatch, 0, 1, num_samples=200)
    other.set_epoch(1)
    assert list(other) == e1


def test_build_from_registry(monkeypatch):
    monkeypatch.setattr(cb, 'get_dist_info', lambda: (0, 1))
    s = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', num_samples=0.5, seed=0),
                            default_args=dict(dataset=Labels()))
    assert isinstance(s, ClassBalancedSampler) and len(s) == 500
