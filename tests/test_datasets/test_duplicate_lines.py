"""An image listed twice in a RAF-DB annotation or a list file (issue 10, item 8).

Different labels: an error naming the file and both line numbers. Same label: both lines kept
(as the official readers do; a list may repeat lines to oversample) with one WARNING naming both
lines.
"""
import gc
import logging
import os

import cv2
import numpy as np
import pytest

import mmfer.datasets.base as base_mod
from mmfer.datasets.base import DuplicateCheck, FERDataError
from mmfer.datasets.list_file import FERListDataset
from mmfer.datasets.rafdb import RAFDB

gc.freeze()  # BaseDataset's gc.collect() is cheap over frozen import-time objects


@pytest.fixture
def logs(monkeypatch):
    """(message, level) of every print_log call of the duplicate check."""
    records = []
    monkeypatch.setattr(base_mod, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: records.append((msg, level)))
    return records


def make_rafdb(root, lines):
    os.makedirs(root / 'EmoLabel', exist_ok=True)
    (root / 'EmoLabel' / 'list_patition_label.txt').write_text(''.join(f'{ln}\n' for ln in lines))
    os.makedirs(root / 'Image' / 'aligned', exist_ok=True)
    for ln in lines:
        stem = ln.split()[0][:-4]
        cv2.imwrite(str(root / 'Image' / 'aligned' / f'{stem}_aligned.jpg'),
                    np.zeros((8, 8, 3), np.uint8))


def test_rafdb_same_image_different_labels_raises(tmp_path):
    make_rafdb(tmp_path, ['train_00001.jpg 5', 'train_00002.jpg 1', 'test_0001.jpg 4',
                          'train_00001.jpg 3'])
    ann = str(tmp_path / 'EmoLabel' / 'list_patition_label.txt')
    with pytest.raises(FERDataError) as err:
        RAFDB(str(tmp_path), split='train')
    msg = str(err.value)
    assert msg.startswith(f'{ann}, lines 1 and 4: RAFDB: image ')
    assert "'train_00001.jpg' is listed twice with different labels (5 on line 1, 3 on line 4)" \
        in msg
    assert 'Fix: keep one line per image' in msg
    # the check covers the whole file: reading the other split reports the same contradiction
    with pytest.raises(FERDataError, match='lines 1 and 4'):
        RAFDB(str(tmp_path), split='test')


def test_rafdb_same_image_same_label_kept_with_warning(tmp_path, logs):
    make_rafdb(tmp_path, ['train_00001.jpg 5', 'train_00002.jpg 1', 'train_00001.jpg 5',
                          'test_0001.jpg 4'])
    ds = RAFDB(str(tmp_path), split='train')
    assert len(ds) == 3  # one sample per line, as the official pandas reader
    np.testing.assert_array_equal(ds.get_gt_labels(), [4, 0, 4])
    warnings = [m for m, lvl in logs if lvl == logging.WARNING]
    assert len(warnings) == 1
    assert "1 repeated line(s)" in warnings[0]
    assert "'train_00001.jpg' on lines 1 and 3" in warnings[0]
    assert 'list_patition_label.txt' in warnings[0]


def make_list(root, lines):
    os.makedirs(root / 'img' / 'a', exist_ok=True)
    for name in ('x.png', 'y.png', 'z.png'):
        cv2.imwrite(str(root / 'img' / 'a' / name), np.zeros((8, 8, 3), np.uint8))
    (root / 'list.txt').write_text('\n'.join(lines) + '\n')


def test_list_file_same_path_different_labels_raises(tmp_path):
    # line 3 is a comment; 'a/./x.png' is the image of line 1
    make_list(tmp_path, ['a/x.png 0', 'a/y.png 1', '# comment', 'a/./x.png 2'])
    with pytest.raises(FERDataError) as err:
        FERListDataset('list.txt', classes='rafdb', data_root=str(tmp_path), data_prefix='img')
    msg = str(err.value)
    assert msg.startswith(f'{tmp_path / "list.txt"}, lines 1 and 4: FERListDataset: image ')
    assert "'a/x.png' is listed twice with different labels (0 on line 1, 2 on line 4)" in msg


def test_list_file_repeats_kept_with_one_warning(tmp_path, logs):
    # oversampling by repeated lines: 7 repeats, the warning shows 5 and counts the rest
    make_list(tmp_path, ['a/x.png 0', 'a/y.png 1'] + ['a/x.png 0'] * 4 + ['a/y.png 1'] * 3)
    ds = FERListDataset('list.txt', classes='rafdb', data_root=str(tmp_path), data_prefix='img')
    assert len(ds) == 9
    assert ds.class_counts()['Surprise'] == 5 and ds.class_counts()['Fear'] == 4
    warnings = [m for m, lvl in logs if lvl == logging.WARNING]
    assert len(warnings) == 1
    assert '7 repeated line(s)' in warnings[0]
    assert "'a/x.png' on lines 1 and 3; 'a/x.png' on lines 1 and 4" in warnings[0]
    assert "'a/y.png' on lines 2 and 7; and 2 more" in warnings[0]


def test_duplicate_check_no_repeats_logs_nothing(logs):
    check = DuplicateCheck('f.txt', 'X')
    for i, key in enumerate(['a', 'b', 'c'], 1):
        check.add(key, 0, i)
    check.report()
    assert check.repeats == [] and logs == []
