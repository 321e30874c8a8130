"""One label-corruption function: label_noise.corrupt_labels' 'permutation' mode is SynthFER's
draw (the labels' digest before/after is in test_synthfer_render_hash.py)."""
import numpy as np
import pytest

from mmfer.datasets.label_noise import LabelNoiseDataset, corrupt_labels
from mmfer.datasets.synthfer import noisy_labels
from mmfer.datasets.synthfer_render.rng import _keyed_rng


def test_permutation_mode_is_the_reference_draw():
    labels = np.arange(20) % 7
    got = corrupt_labels(labels, 7, 0.3, np.random.default_rng(5), mode='permutation')
    rng = np.random.default_rng(5)
    idx = rng.permutation(20)[:6]
    ref = labels.copy()
    ref[idx] = (labels[idx] + rng.integers(1, 7, 6)) % 7
    np.testing.assert_array_equal(got, ref)
    assert (got != labels).sum() == 6 and got.dtype == np.int64
    # an int seed means default_rng(seed)
    np.testing.assert_array_equal(corrupt_labels(labels, 7, 0.3, 5, mode='permutation'), got)
    np.testing.assert_array_equal(corrupt_labels(labels, 7, 0.3, 5, mode='exact'),
                                  corrupt_labels(labels, 7, 0.3, np.random.default_rng(5),
                                                 mode='exact'))


def test_synthfer_noisy_labels_use_permutation_mode():
    clean = np.arange(50) % 7
    noisy = noisy_labels(clean, 0.2, 3, 'val')
    key = _keyed_rng(3, 1, 1002, 200000, 50)        # (seed, split id, noise tag, rate·1e6, N)
    np.testing.assert_array_equal(noisy, corrupt_labels(clean, 7, 0.2, key, 'permutation'))
    assert (noisy != clean).sum() == 10
    with pytest.raises(ValueError, match=r'label_noise must be in \[0, 1\), got 1.0'):
        noisy_labels(clean, 1.0, 0, 'train')


def test_unknown_mode_message():
    with pytest.raises(ValueError, match="'bernoulli', 'exact', 'permutation'"):
        corrupt_labels(np.zeros(3, int), 7, 0.1, 0, mode='shuffle')


def test_dataset_permutation_mode():
    from mmpretrain.datasets import BaseDataset

    class Tiny(BaseDataset):
        METAINFO = dict(classes=tuple('abcdefg'))

        def load_data_list(self):
            return [dict(gt_label=i % 7) for i in range(28)]

    ds = LabelNoiseDataset(Tiny(ann_file='', serialize_data=False), ratio=0.25,
                           mode='permutation', seed=2)
    assert ds.num_changed == 7
    np.testing.assert_array_equal(ds.get_gt_labels(),
                                  corrupt_labels(np.arange(28) % 7, 7, 0.25, 2, 'permutation'))
    with pytest.raises(ValueError, match="mode='shuffle'"):
        LabelNoiseDataset(Tiny(ann_file='', serialize_data=False), mode='shuffle')
