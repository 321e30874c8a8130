"""QuadrupletDataset (qcs.md §4): draws, negatives, determinism, items, sampler on top.

DatasetEpochHook is tested in tests/test_engine/test_hooks/test_dataset_epoch_hook.py and
MultiViewDataPreprocessor in tests/test_models/test_data_preprocessors.py.
"""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmpretrain.datasets import BaseDataset
from torch.utils.data import DataLoader

from mmfer.datasets.quadruplet import QuadrupletDataset
from mmfer.registry import DATA_SAMPLERS, DATASETS


pytestmark = pytest.mark.usefixtures('one_thread')

# skewed toy label set: 60 / 30 / 9 / 1 images (class 3 is a singleton)
COUNTS = (60, 30, 9, 1)


class ToyFER(BaseDataset):
    """Image i is a 4×4×3 uint8 array filled with the value i, so views can be traced back."""

    METAINFO = dict(classes=('a', 'b', 'c', 'd'))

    def __init__(self, counts=COUNTS, pipeline=(), **kwargs):
        self.counts = counts
        super().__init__(ann_file='', pipeline=list(pipeline), serialize_data=False, **kwargs)

    def load_data_list(self):
        labels = np.repeat(np.arange(len(self.counts)), self.counts)
        # interleave the classes so that class blocks are not contiguous in index order
        labels = labels[np.random.default_rng(0).permutation(labels.size)]
        return [dict(img=np.full((4, 4, 3), i, np.uint8), gt_label=int(y))
                for i, y in enumerate(labels)]


class CountingTransform:
    calls = 0

    def __call__(self, results):
        CountingTransform.calls += 1
        return results


def make(num_branches=4, negative_mode='frequency', seed=0, counts=COUNTS):
    ds = ToyFER(counts, pipeline=[CountingTransform(), dict(type='PackInputs')])
    return QuadrupletDataset(ds, num_branches=num_branches, negative_mode=negative_mode,
                             seed=seed)


def test_draw_constraints_qcs():
    for mode in ('frequency', 'balanced'):
        qd = make(negative_mode=mode)
        labels = qd.get_gt_labels()
        assert np.bincount(labels).tolist() == list(COUNTS)
        for epoch in range(3):
            for i in range(len(qd)):
                d = qd.draw(i, epoch)
                y = labels[i]
                assert labels[d['p']] == y
                if COUNTS[y] > 1:
                    assert d['p'] != i
                else:
                    assert d['p'] == i  # singleton: the anchor itself
                assert d['neg_label'] != y
                assert labels[d['n']] == labels[d['n2']] == d['neg_label']
                if COUNTS[d['neg_label']] > 1:
                    assert d['n'] != d['n2']


def test_singleton_warning_once(monkeypatch):
    import mmfer.datasets.quadruplet as quad
    logged = []
    monkeypatch.setattr(quad, 'print_log', lambda msg, **kw: logged.append((msg, kw['level'])))
    qd = make()
    singleton = int(np.flatnonzero(qd.get_gt_labels() == 3)[0])
    for epoch in range(3):
        qd.draw(singleton, epoch)
    assert len(logged) == 1 and 'class 3 (d) has 1 image' in logged[0][0]
    assert logged[0][1] == 30  # WARNING


def _neg_distribution(qd, anchor_class=0, epochs=50):
    labels = qd.get_gt_labels()
    anchors = np.flatnonzero(labels == anchor_class)
    negs = [qd.draw(i, e)['neg_label'] for e in range(epochs) for i in anchors]
    return np.bincount(negs, minlength=len(COUNTS)) / len(negs)


def test_negative_class_distribution():
    freq = _neg_distribution(make(negative_mode='frequency'))
    bal = _neg_distribution(make(negative_mode='balanced'))
    # anchors of class 0 (3000 draws): y′ ∝ (30, 9, 1) vs uniform over the 3 other classes
    assert freq[0] == bal[0] == 0
    np.testing.assert_allclose(freq[1:], np.array([30, 9, 1]) / 40, atol=0.03)
    np.testing.assert_allclose(bal[1:], [1 / 3] * 3, atol=0.03)


def test_positive_uniform_within_class():
    qd = make(num_branches=2)
    labels = qd.get_gt_labels()
    anchor = int(np.flatnonzero(labels == 2)[0])  # class of 9 images: 8 candidates
    ps = [qd.draw(anchor, e)['p'] for e in range(800)]
    vals, counts = np.unique(ps, return_counts=True)
    assert len(vals) == 8 and anchor not in vals
    assert counts.min() > 60 and counts.max() < 140  # expected 100 each


def test_determinism():
    a, b = make(seed=3), make(seed=3)
    draws = [a.draw(i, 1) for i in range(len(a))]
    assert draws == [b.draw(i, 1) for i in range(len(b))]
    assert draws == [a.draw(i, 1) for i in range(len(a))]
    assert draws != [a.draw(i, 2) for i in range(len(a))]
    assert draws != [make(seed=4).draw(i, 1) for i in range(len(a))]
    a.set_epoch(2)
    assert a.epoch == 2 and a.draw(5) == a.draw(5, 2)


def test_getitem_qcs():
    qd = make()
    qd.set_epoch(1)
    before = CountingTransform.calls
    item = qd[7]
    assert CountingTransform.calls - before == 4  # every view through the full pipeline
    d = qd.draw(7, 1)
    ds = item['data_samples']
    assert item['inputs'].shape == (4, 3, 4, 4)
    assert ds.metainfo['aux_indices'] == (d['p'], d['n'], d['n2'])
    # each view is the image of its index (images are filled with their index)
    assert item['inputs'][:, 0, 0, 0].tolist() == [7, d['p'], d['n'], d['n2']]
    assert ds.gt_label.tolist() == [qd.get_gt_labels()[7]]
    assert ds.neg_label.tolist() == [d['neg_label']]


def test_getitem_dcs():
    qd = make(num_branches=2)
    item = qd[0]
    assert item['inputs'].shape == (2, 3, 4, 4)
    assert 'neg_label' not in item['data_samples']
    assert len(item['data_samples'].metainfo['aux_indices']) == 1


def test_persistent_workers_see_set_epoch():
    qd = make()
    loader = DataLoader(qd, batch_size=4, num_workers=1, persistent_workers=True,
                        collate_fn=pseudo_collate, sampler=list(range(8)))
    for epoch in (0, 3):
        qd.set_epoch(epoch)
        aux = [ds.metainfo['aux_indices'] for batch in loader for ds in batch['data_samples']]
        expected = [tuple(qd.draw(i, epoch)[k] for k in ('p', 'n', 'n2')) for i in range(8)]
        assert aux == expected


def test_class_balanced_sampler_reads_wrapper_labels():
    """The class-balanced sampler reads the anchors' labels through the wrapper (the sampler half
    of the former test_dataset_epoch_hook_and_sampler; the hook half is in
    tests/test_engine/test_hooks/test_dataset_epoch_hook.py)."""
    qd = make()
    sampler = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=qd,
                                       num_samples=1 / 4, seed=0))
    assert len(sampler) == 25


def test_build_from_config_and_errors():
    qd = DATASETS.build(dict(type='QuadrupletDataset', num_branches=2,
                             dataset=ToyFER(pipeline=[dict(type='PackInputs')])))
    assert len(qd) == 100 and qd.metainfo['classes'] == ('a', 'b', 'c', 'd')
    with pytest.raises(ValueError, match='two classes'):
        make(counts=(5, ))
    with pytest.raises(ValueError, match='num_branches'):
        QuadrupletDataset(ToyFER(), num_branches=3)
    with pytest.raises(ValueError, match='negative_mode'):
        QuadrupletDataset(ToyFER(), negative_mode='uniform')
