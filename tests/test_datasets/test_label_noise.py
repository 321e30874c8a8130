import gc
import os

import cv2
import numpy as np
import pytest

from mmfer.datasets.base import FERDataError
from mmfer.datasets.label_noise import LabelNoiseDataset, corrupt_labels
from mmfer.registry import DATASETS

# mmengine's BaseDataset runs gc.collect() after serialising its samples; with torch and
# mmpretrain loaded that walks ~370k objects (0.3 s per dataset). Freezing the objects that
# exist now (imports) makes the call cheap; no result depends on it.
gc.freeze()

RAF_TRAIN = np.repeat(np.arange(7), [1290, 281, 717, 4772, 1982, 705, 2524])  # 12,271


@pytest.mark.parametrize('ratio,changed', [(0.1, 1227), (0.2, 2454), (0.3, 3681)])
def test_exact_mode_counts(ratio, changed):
    noisy = corrupt_labels(RAF_TRAIN, 7, ratio, seed=0, mode='exact')
    diff = noisy != RAF_TRAIN
    assert diff.sum() == changed
    # a changed label is never the original; the shift is uniform over the 6 other classes
    shifts = ((noisy - RAF_TRAIN) % 7)[diff]
    counts = np.bincount(shifts, minlength=7)
    assert counts[0] == 0
    assert np.all(np.abs(counts[1:] - changed / 6) < 0.15 * changed / 6)


def test_bernoulli_mode_is_seeded():
    a = corrupt_labels(RAF_TRAIN, 7, 0.2, seed=3)
    np.testing.assert_array_equal(a, corrupt_labels(RAF_TRAIN, 7, 0.2, seed=3))
    assert (a != corrupt_labels(RAF_TRAIN, 7, 0.2, seed=4)).any()
    rate = (a != RAF_TRAIN).mean()
    assert abs(rate - 0.2) < 0.011  # 3 σ of a binomial(12271, 0.2) rate is 0.011
    np.testing.assert_array_equal(corrupt_labels(RAF_TRAIN, 7, 0.0, seed=0), RAF_TRAIN)
    with pytest.raises(ValueError, match=r'ratio must lie in \[0, 1\]'):
        corrupt_labels(RAF_TRAIN, 7, 1.5, seed=0)


def make_rafdb(root, labels):
    """A RAF-DB train split with 1-based ``labels`` and 8×8 aligned images."""
    os.makedirs(root / 'EmoLabel')
    os.makedirs(root / 'Image' / 'aligned')
    lines = []
    for i, lab in enumerate(labels, 1):
        lines.append(f'train_{i:05d}.jpg {lab}')
        cv2.imwrite(str(root / 'Image' / 'aligned' / f'train_{i:05d}_aligned.jpg'),
                    np.zeros((8, 8, 3), np.uint8))
    (root / 'EmoLabel' / 'list_patition_label.txt').write_text('\n'.join(lines) + '\n')


def test_wrapper_pipeline_keeps_clean_label(tmp_path):
    make_rafdb(tmp_path, [1, 2, 3, 4, 5, 6, 7] * 4)
    cfg = dict(type='LabelNoiseDataset', ratio=0.5, mode='exact', seed=1,
               dataset=dict(type='RAFDB', data_root=str(tmp_path), split='train',
                            pipeline=[dict(type='LoadFERImage'),
                                      dict(type='PackInputs', algorithm_keys=['gt_label_clean'])]))
    ds = DATASETS.build(cfg)
    assert len(ds) == 28 and ds.num_changed == 14
    np.testing.assert_array_equal(ds.get_clean_labels(), np.tile(np.arange(7), 4))
    noisy = ds.get_gt_labels()
    np.testing.assert_array_equal(noisy, corrupt_labels(np.tile(np.arange(7), 4), 7, 0.5, 1,
                                                        'exact'))
    i = int(np.argmax(noisy != ds.get_clean_labels()))
    out = ds[i]
    assert out['inputs'].shape == (3, 8, 8)
    assert out['data_samples'].gt_label.item() == noisy[i]
    assert out['data_samples'].gt_label_clean == i % 7 != noisy[i]
    assert sum(ds.class_counts().values()) == 28
    assert ds.metainfo['classes'][0] == 'Surprise'


def test_file_mode(tmp_path):
    make_rafdb(tmp_path, [1, 4, 5, 7])
    noise = tmp_path / 'noise01.txt'
    noise.write_text('train_00001.jpg 1\ntrain_00002.jpg 5\ntrain_00003.jpg 5\n'
                     'train_00004.jpg 2\ntrain_09999.jpg 3\n')
    base = dict(type='RAFDB', data_root=str(tmp_path), split='train')
    ds = LabelNoiseDataset(base, mode='file', noise_file=str(noise))
    np.testing.assert_array_equal(ds.get_gt_labels(), [0, 4, 4, 1])
    np.testing.assert_array_equal(ds.get_clean_labels(), [0, 3, 4, 6])
    assert ds.num_changed == 2
    # the dataset in AffectNet order: file labels (RAF-DB order) are remapped by name
    aff = LabelNoiseDataset(dict(base, classes='affectnet'), mode='file', noise_file=str(noise))
    np.testing.assert_array_equal(aff.get_gt_labels(), [3, 2, 2, 4])
    noise.write_text('train_00001.jpg 1\ntrain_00002.jpg 5\n')
    with pytest.raises(FERDataError, match=r"noise01\.txt: no line for sample 'train_00003\.jpg'"):
        LabelNoiseDataset(base, mode='file', noise_file=str(noise))
    noise.write_text('train_00001.jpg 1\ntrain_00002.jpg 9\n')
    with pytest.raises(FERDataError, match=r"noise01\.txt, line 2: label 9 out of range"):
        LabelNoiseDataset(base, mode='file', noise_file=str(noise))
    with pytest.raises(ValueError, match="mode='file' needs noise_file"):
        LabelNoiseDataset(base, mode='file')
