"""AffectNet CSVs as the release unpacks (issue 10, item 9): ``training.csv`` /
``validation.csv`` in ``Manually_Annotated_file_lists/`` as well as at the root, and a
``validation.csv`` without its header row (detected by content, logged)."""
import gc
import logging
import os

import cv2
import numpy as np
import pytest

import mmfer.datasets.affectnet as affectnet_mod
from mmfer.datasets.affectnet import AFFECTNET_CSV_HEADER, AffectNet, is_affectnet_header
from mmfer.datasets.base import FERDataError

gc.freeze()  # BaseDataset's gc.collect() is cheap over frozen import-time objects

HEADER = ','.join(AFFECTNET_CSV_HEADER)
LANDMARKS = ';'.join(f'{v:.1f}' for v in np.arange(136) * 0.5)


@pytest.fixture
def logs(monkeypatch):
    records = []
    monkeypatch.setattr(affectnet_mod, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: records.append((msg, level)))
    return records


def write_release(root, csv_dir, codes, name, header=True, offset=0):
    """Images Manually_Annotated_Images/<sub>/<i>.jpg and <csv_dir>/<name> listing them."""
    lines = [HEADER] if header else []
    for i, code in enumerate(codes, offset):
        rel = f'{7 + i % 2}/{i:03d}.jpg'
        lines.append(f'{rel},2,2,6,6,{LANDMARKS},{code},0.25,-0.5')
        path = root / 'Manually_Annotated_Images' / rel
        os.makedirs(path.parent, exist_ok=True)
        cv2.imwrite(str(path), np.full((10, 10, 3), i, np.uint8))
    os.makedirs(root / csv_dir, exist_ok=True)
    (root / csv_dir / name).write_text('\n'.join(lines) + '\n')


def test_csvs_found_in_file_lists_folder(tmp_path, logs):
    write_release(tmp_path, 'Manually_Annotated_file_lists', [0, 1, 1, 7, 8], 'training.csv')
    write_release(tmp_path, 'Manually_Annotated_file_lists', [2, 3, 7], 'validation.csv',
                  offset=50)
    train = AffectNet(str(tmp_path), split='train')
    val = AffectNet(str(tmp_path), split='val', num_classes=7)
    expect = os.path.join(str(tmp_path), 'Manually_Annotated_file_lists', 'training.csv')
    assert train.ann_file == expect
    assert train.get_gt_labels().tolist() == [0, 1, 1, 7] and train.dropped == {'code 8 None': 1}
    assert val.get_gt_labels().tolist() == [2, 3]
    assert f'AffectNet: reading {expect}' in [m for m, _ in logs]
    # the root wins when both exist (the order of AFFECTNET_CSV_DIRS)
    write_release(tmp_path, '', [5], 'training.csv', offset=80)
    root_ds = AffectNet(str(tmp_path), split='train')
    assert root_ds.ann_file == os.path.join(str(tmp_path), 'training.csv')
    assert root_ds.get_gt_labels().tolist() == [5]


def test_missing_csv_names_both_places(tmp_path):
    (tmp_path / 'Manually_Annotated_Images').mkdir()
    with pytest.raises(FileNotFoundError) as err:
        AffectNet(str(tmp_path), split='val')
    msg = str(err.value)
    assert repr(os.path.join(str(tmp_path), '', 'validation.csv')) in msg
    assert repr(os.path.join(str(tmp_path), 'Manually_Annotated_file_lists',
                             'validation.csv')) in msg


def test_validation_without_header(tmp_path, logs):
    write_release(tmp_path, 'Manually_Annotated_file_lists', [0, 1], 'training.csv')
    write_release(tmp_path, 'Manually_Annotated_file_lists', [4, 6, 10, 5], 'validation.csv',
                  header=False, offset=20)
    val = AffectNet(str(tmp_path), split='val', with_landmarks=True)
    # the first line is a sample, not swallowed as a header
    assert val.get_gt_labels().tolist() == [4, 6, 5] and val.dropped == {'code 10 No-Face': 1}
    assert os.path.basename(val.get_data_info(0)['img_path']) == '020.jpg'
    assert val.get_data_info(0)['landmarks'][1].tolist() == [1.0, 1.5]
    warnings = [m for m, lvl in logs if lvl == logging.WARNING]
    assert len(warnings) == 1
    assert 'validation.csv has no header row (line 1 is 7/020.jpg...)' in warnings[0]
    # with its header the same file gives the same samples and no warning
    logs.clear()
    write_release(tmp_path, 'Manually_Annotated_file_lists', [4, 6, 10, 5], 'validation.csv',
                  offset=20)
    again = AffectNet(str(tmp_path), split='val')
    assert again.get_gt_labels().tolist() == [4, 6, 5]
    assert not [m for m, lvl in logs if lvl == logging.WARNING]


def test_headerless_line_numbers_and_bad_first_line(tmp_path):
    write_release(tmp_path, '', [0, 1], 'validation.csv', header=False)
    with open(tmp_path / 'validation.csv', 'a') as f:
        f.write('9/x.jpg,1,1,4,4,1;2,13,0,0\n')
    # without a header, line 3 is the third row
    with pytest.raises(FERDataError, match=r'validation\.csv, line 3: unknown expression code 13'):
        AffectNet(str(tmp_path), split='val')
    # a first line that is neither the header nor a data row still raises as a bad header
    (tmp_path / 'validation.csv').write_text('image,label\n8/000.jpg,1\n')
    with pytest.raises(FERDataError, match=r"validation\.csv, line 1: header \['image', 'label'\]"):
        AffectNet(str(tmp_path), split='val')
    # a spreadsheet's byte-order mark before the header is not a missing header
    (tmp_path / 'validation.csv').write_text('\ufeff' + HEADER + '\n' +
                                             f'7/000.jpg,2,2,6,6,{LANDMARKS},3,0,0\n',
                                             encoding='utf-8')
    assert AffectNet(str(tmp_path), split='val').get_gt_labels().tolist() == [3]


def test_header_detection_by_content():
    assert is_affectnet_header(list(AFFECTNET_CSV_HEADER))
    assert is_affectnet_header([' subDirectory_filePath', 'x'])
    assert not is_affectnet_header(['8/000.jpg', '2', '2', '6', '6', '1;2', '3', '0', '0'])
    assert not is_affectnet_header([])
