import gc
import os

import cv2
import numpy as np
import pytest

from mmfer.datasets.rafdb import RAFDB
from mmfer.datasets.base import FERDataError

# mmengine's BaseDataset runs gc.collect() after serialising its samples; with torch and
# mmpretrain loaded that walks ~370k objects (0.3 s per dataset). Freezing the objects that
# exist now (imports) makes the call cheap; no result depends on it.
gc.freeze()

TRAIN_COUNTS = [1290, 281, 717, 4772, 1982, 705, 2524]  # datasets.md §2, RAF-DB order
TEST_COUNTS = [329, 74, 160, 1185, 478, 162, 680]
RAF = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')


def write_ann(root, lines, name='list_patition_label.txt'):
    os.makedirs(root / 'EmoLabel', exist_ok=True)
    (root / 'EmoLabel' / name).write_text(''.join(f'{ln}\n' for ln in lines))


def make_rafdb(root, items, image_sets=('aligned', )):
    """items: (name, 1-based label); writes 10×12 JPEGs in the requested image sets."""
    write_ann(root, [f'{n} {lab}' for n, lab in items])
    for image_set in image_sets:
        os.makedirs(root / 'Image' / image_set, exist_ok=True)
        for n, lab in items:
            stem = n[:-4]
            fname = f'{stem}_aligned.jpg' if image_set == 'aligned' else n
            img = np.full((10, 12, 3), 20 * lab, np.uint8)
            cv2.imwrite(str(root / 'Image' / image_set / fname), img)


SMALL = [('train_00001.jpg', 5), ('train_00002.jpg', 1), ('train_00003.jpg', 7),
         ('test_0001.jpg', 4), ('train_00004.jpg', 5), ('test_0002.jpg', 6)]


def test_full_size_counts(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.permutation(np.repeat(np.arange(1, 8), TRAIN_COUNTS))
    test = rng.permutation(np.repeat(np.arange(1, 8), TEST_COUNTS))
    lines = [f'train_{i + 1:05d}.jpg {lab}' for i, lab in enumerate(train)]
    lines += [f'test_{i + 1:04d}.jpg {lab}' for i, lab in enumerate(test)]
    assert len(lines) == 15339
    write_ann(tmp_path, lines)
    (tmp_path / 'Image' / 'aligned').mkdir(parents=True)
    tr = RAFDB(str(tmp_path), split='train', check_files=False)
    te = RAFDB(str(tmp_path), split='test', check_files=False)
    assert (len(tr), len(te)) == (12271, 3068)
    assert list(tr.class_counts().values()) == TRAIN_COUNTS
    assert list(te.class_counts().values()) == TEST_COUNTS
    assert list(tr.class_counts()) == list(RAF)
    # line 1 holds label train[0] (1-based) → index train[0] - 1
    assert tr.get_data_info(0)['gt_label'] == train[0] - 1
    np.testing.assert_array_equal(tr.get_gt_labels(), train - 1)


def test_small_release_paths_labels_and_remap(tmp_path):
    make_rafdb(tmp_path, SMALL, image_sets=('aligned', 'original'))
    ds = RAFDB(str(tmp_path), split='train', pipeline=[dict(type='LoadFERImage')])
    assert len(ds) == 4
    first = ds.get_data_info(0)
    assert first['img_path'] == os.path.join(str(tmp_path), 'Image', 'aligned',
                                             'train_00001_aligned.jpg')
    assert first['gt_label'] == 4 and ds.metainfo['classes'][4] == 'Sadness'  # label 5 → 4
    assert first['img_name'] == 'train_00001.jpg'
    assert ds[0]['img'].shape == (10, 12, 3)
    assert dict(ds.class_counts()) == dict(zip(RAF, [1, 0, 0, 0, 2, 0, 1]))
    orig = RAFDB(str(tmp_path), split='test', image_set='original')
    assert [orig.get_data_info(i)['img_path'] for i in range(2)] == [
        os.path.join(str(tmp_path), 'Image', 'original', n) for n in ('test_0001.jpg',
                                                                       'test_0002.jpg')]
    np.testing.assert_array_equal(orig.get_gt_labels(), [3, 5])
    # remap into AffectNet order by name: Sadness → 2, Surprise → 3, Neutral → 0
    aff = RAFDB(str(tmp_path), split='train', classes='affectnet')
    np.testing.assert_array_equal(aff.get_gt_labels(), [2, 3, 0, 2])
    assert aff.metainfo['classes'][:3] == ('Neutral', 'Happiness', 'Sadness')
    assert aff.metainfo['native_classes'] == RAF
    assert aff.label_map == (3, 4, 5, 1, 2, 6, 0)


def test_noisy_label_file(tmp_path):
    make_rafdb(tmp_path, SMALL)
    write_ann(tmp_path, ['train_00001.jpg 1', 'train_00002.jpg 1', 'train_00003.jpg 2',
                         'train_00004.jpg 5'], name='noise01.txt')
    noisy = RAFDB(str(tmp_path), split='train', ann_file='EmoLabel/noise01.txt')
    np.testing.assert_array_equal(noisy.get_gt_labels(), [0, 0, 1, 4])
    with pytest.raises(FERDataError, match=r"no samples in split 'test' of .*noise01\.txt"):
        RAFDB(str(tmp_path), split='test', ann_file='EmoLabel/noise01.txt')


@pytest.mark.parametrize('bad_line,match', [
    ('train_00009.jpg', r'list_patition_label\.txt, line 7: malformed line'),
    ('train_00009.jpg 8', r'list_patition_label\.txt, line 7: unknown label \'8\''),
    ('train_00009.jpg 0', r'line 7: unknown label \'0\'.*1-based'),
    ('val_0001.jpg 3', r'line 7: name \'val_0001\.jpg\' starts with neither'),
])
def test_malformed_annotation(tmp_path, bad_line, match):
    make_rafdb(tmp_path, SMALL)
    write_ann(tmp_path, [f'{n} {lab}' for n, lab in SMALL] + [bad_line])
    with pytest.raises(FERDataError, match=match):
        RAFDB(str(tmp_path), split='train')


def test_missing_root_and_image(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"RAF-DB data_root '.*nope' does not exist.*basic"):
        RAFDB(str(tmp_path / 'nope'))
    make_rafdb(tmp_path, SMALL)
    os.remove(tmp_path / 'Image' / 'aligned' / 'train_00003_aligned.jpg')
    with pytest.raises(FileNotFoundError,
                       match=r"list_patition_label\.txt, line 3: image .*train_00003_aligned\.jpg"):
        RAFDB(str(tmp_path), split='train')
    assert len(RAFDB(str(tmp_path), split='test')) == 2
    with pytest.raises(ValueError, match='no validation split'):
        RAFDB(str(tmp_path), split='val')
    with pytest.raises(ValueError, match=r"lacks \['Sadness'"):
        RAFDB(str(tmp_path), classes=['Surprise', 'Fear', 'Disgust', 'Happiness', 'Anger',
                                      'Neutral'])
