import gc
import os

import cv2
import numpy as np
import pytest

from mmfer.datasets.base import FERDataError
from mmfer.datasets.list_file import FERListDataset, parse_list_line

# mmengine's BaseDataset runs gc.collect() after serialising its samples; with torch and
# mmpretrain loaded that walks ~370k objects (0.3 s per dataset). Freezing the objects that
# exist now (imports) makes the call cheap; no result depends on it.
gc.freeze()


def test_parse_line():
    assert parse_list_line('a b/c.jpg 3') == ('a b/c.jpg', '3')
    assert parse_list_line('  x.png\t0 \n') == ('x.png', '0')
    assert parse_list_line('# comment 1') is None
    assert parse_list_line('   \n') is None
    assert parse_list_line('lonely.jpg') == ('lonely.jpg', None)


def write_list(tmp_path, lines, images=('a b/c.jpg', 'd.png')):
    for rel in images:
        os.makedirs(os.path.dirname(tmp_path / 'img' / rel), exist_ok=True)
        cv2.imwrite(str(tmp_path / 'img' / rel), np.zeros((6, 6, 3), np.uint8))
    (tmp_path / 'list.txt').write_text('\n'.join(lines) + '\n')


def test_list_dataset(tmp_path):
    write_list(tmp_path, ['# RAF-DB order', 'a b/c.jpg 3', '', 'd.png 6'])
    ds = FERListDataset('list.txt', classes='rafdb', data_root=str(tmp_path), data_prefix='img',
                        pipeline=[dict(type='LoadFERImage')])
    assert len(ds) == 2
    assert ds.get_data_info(0)['img_path'] == os.path.join(str(tmp_path), 'img', 'a b/c.jpg')
    assert ds.get_gt_labels().tolist() == [3, 6]
    assert ds[0]['img'].shape == (6, 6, 3)
    # a list in AffectNet-7 order read into RAF-DB order: 3 Surprise → 0, 6 Anger → 5
    remapped = FERListDataset('list.txt', classes='rafdb', label_classes='affectnet7',
                              data_root=str(tmp_path), data_prefix='img')
    assert remapped.get_gt_labels().tolist() == [0, 5]
    free = FERListDataset('list.txt', classes=[f'c{i}' for i in range(7)],
                          data_root=str(tmp_path), data_prefix='img')
    assert free.metainfo['classes'][6] == 'c6'


def test_list_errors(tmp_path):
    write_list(tmp_path, ['a b/c.jpg 3', 'd.png 7'])
    with pytest.raises(FERDataError, match=r'list\.txt, line 2: label 7 out of range for 7'):
        FERListDataset('list.txt', classes='rafdb', data_root=str(tmp_path), data_prefix='img')
    write_list(tmp_path, ['a b/c.jpg 3', 'd.png happy'])
    with pytest.raises(FERDataError, match=r"list\.txt, line 2: malformed line 'd\.png happy'"):
        FERListDataset('list.txt', classes='rafdb', data_root=str(tmp_path), data_prefix='img')
    write_list(tmp_path, ['a b/c.jpg 3', 'gone.png 1'])
    with pytest.raises(FileNotFoundError, match=r"list\.txt, line 2: image '.*gone\.png'"):
        FERListDataset('list.txt', classes='rafdb', data_root=str(tmp_path), data_prefix='img')
    with pytest.raises(ValueError, match='carries no class order; set classes='):
        FERListDataset('list.txt', data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"list file '.*nolist\.txt' does not exist"):
        FERListDataset('nolist.txt', classes='rafdb', data_root=str(tmp_path))
    write_list(tmp_path, ['# only a comment'])
    with pytest.raises(FERDataError, match='no samples in .*list.txt'):
        FERListDataset('list.txt', classes='rafdb', data_root=str(tmp_path))
