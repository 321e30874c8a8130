import gc
import os

import cv2
import numpy as np
import pytest

from mmfer.datasets.affectnet import AFFECTNET_CSV_HEADER, AffectNet
from mmfer.datasets.base import FERDataError

# mmengine's BaseDataset runs gc.collect() after serialising its samples; with torch and
# mmpretrain loaded that walks ~370k objects (0.3 s per dataset). Freezing the objects that
# exist now (imports) makes the call cheap; no result depends on it.
gc.freeze()

HEADER = ','.join(AFFECTNET_CSV_HEADER)


def landmarks_text(offset=0.0):
    pts = np.stack([np.arange(68) * 0.25 + 5 + offset, np.arange(68) * 0.1 + 3], 1)
    return ';'.join(f'{v:.2f}' for v in pts.reshape(-1))


def write_csv_release(root, name, codes, missing=()):
    """One row per code, image <sub>/<hash>.jpg (16×24) with face box (4, 3, 10, 8)."""
    lines = [HEADER]
    for i, code in enumerate(codes):
        rel = f'{100 + i % 3}/{i:04x}abcdef.jpg'
        lines.append(f'{rel},4,3,10,8,{landmarks_text()},{code},0.1,-0.2')
        path = root / 'Manually_Annotated_Images' / rel
        os.makedirs(path.parent, exist_ok=True)
        if rel not in missing:
            cv2.imwrite(str(path), np.full((16, 24, 3), 10 * i % 250, np.uint8))
    (root / name).write_text('\n'.join(lines) + '\n')
    return lines


TRAIN_CODES = [0, 1, 1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 10, 1]
AFFECTNET = ('Neutral', 'Happiness', 'Sadness', 'Surprise', 'Fear', 'Disgust', 'Anger',
             'Contempt')


def test_csv_filters_and_counts(tmp_path):
    write_csv_release(tmp_path, 'training.csv', TRAIN_CODES)
    write_csv_release(tmp_path, 'validation.csv', [c for c in range(8) for _ in range(2)])
    ds8 = AffectNet(str(tmp_path), split='train', num_classes=8)
    assert len(ds8) == 11
    assert dict(ds8.dropped) == {'code 8 None': 1, 'code 9 Uncertain': 1, 'code 10 No-Face': 2}
    assert list(ds8.class_counts().values()) == [1, 3, 1, 1, 1, 1, 1, 2]
    np.testing.assert_array_equal(ds8.get_gt_labels(), [0, 1, 1, 2, 3, 4, 5, 6, 7, 7, 1])
    ds7 = AffectNet(str(tmp_path), split='train', num_classes=7)
    assert len(ds7) == 9 and ds7.dropped['code 7 Contempt (num_classes=7)'] == 2
    assert ds7.metainfo['classes'] == AFFECTNET[:7]
    # balanced validation: 2 per class → 16 (8 classes) / 14 (7 classes); 'test' = validation
    assert len(AffectNet(str(tmp_path), split='val')) == 16
    assert list(AffectNet(str(tmp_path), split='test', num_classes=7).class_counts().values()) \
        == [2] * 7
    info = ds8.get_data_info(0)
    assert info['img_path'] == os.path.join(str(tmp_path), 'Manually_Annotated_Images',
                                            '100/0000abcdef.jpg')
    assert 'face_bbox' not in info and 'landmarks' not in info
    # cross-dataset: AffectNet-7 labels in RAF-DB order (Neutral 0 → 6, Happiness 1 → 3)
    raf = AffectNet(str(tmp_path), split='train', num_classes=7, classes='rafdb')
    np.testing.assert_array_equal(raf.get_gt_labels(), [6, 3, 3, 4, 0, 1, 2, 5, 3])
    with pytest.raises(ValueError, match=r"lacks \['Contempt'\].*num_classes=7"):
        AffectNet(str(tmp_path), num_classes=8, classes='rafdb')


def test_crop_face_and_landmarks(tmp_path):
    write_csv_release(tmp_path, 'training.csv', [0, 1])
    ds = AffectNet(str(tmp_path), crop_face=True, with_landmarks=True,
                   pipeline=[dict(type='LoadFERImage')])
    info = ds.get_data_info(0)
    assert info['face_bbox'] == (4.0, 3.0, 10.0, 8.0)
    assert info['landmarks'].shape == (68, 2)
    np.testing.assert_allclose(info['landmarks'][1], [5.25, 3.1], atol=1e-5)
    out = ds[0]
    assert out['img'].shape == (8, 10, 3)
    np.testing.assert_allclose(out['landmarks'][1], [1.25, 0.1], atol=1e-5)
    with pytest.raises(ValueError, match="put dict\\(type='LoadFERImage'\\) first"):
        AffectNet(str(tmp_path), crop_face=True, pipeline=[dict(type='LoadImageFromFile')])
    with pytest.raises(ValueError, match='crop_face=True needs the CSV'):
        AffectNet(str(tmp_path), layout='npy', crop_face=True)


def test_missing_images_and_missing_list(tmp_path):
    lines = write_csv_release(tmp_path, 'training.csv', [0, 1, 2, 3],
                              missing=('102/0002abcdef.jpg', ))
    assert lines[3].startswith('102/0002abcdef.jpg')
    with pytest.raises(FileNotFoundError, match=r'training\.csv, line 4: image .*0002abcdef\.jpg.*'
                                                'missing_list'):
        AffectNet(str(tmp_path))
    (tmp_path / 'missing.txt').write_text('# known missing\n102/0002abcdef.jpg\n')
    ds = AffectNet(str(tmp_path), missing_list='missing.txt')
    assert len(ds) == 3 and ds.dropped == {'listed in missing_list': 1}


@pytest.mark.parametrize('row,match', [
    ('1/a.jpg,1,1,4,4,1;2,11,0,0', r'training\.csv, line 3: unknown expression code 11'),
    ('1/a.jpg,1,1,4,4,1;2,happy,0,0', r"training\.csv, line 3: expression 'happy'"),
    ('1/a.jpg,1,1', r'training\.csv, line 3: 3 columns'),
])
def test_malformed_csv(tmp_path, row, match):
    write_csv_release(tmp_path, 'training.csv', [0])
    with open(tmp_path / 'training.csv', 'a') as f:
        f.write(row + '\n')
    with pytest.raises(FERDataError, match=match):
        AffectNet(str(tmp_path))


def test_bad_header_and_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='AffectNet data_root'):
        AffectNet(str(tmp_path / 'none'))
    (tmp_path / 'Manually_Annotated_Images').mkdir()
    (tmp_path / 'training.csv').write_text('path,label\n')
    with pytest.raises(FERDataError, match=r"training\.csv, line 1: header \['path', 'label'\]"):
        AffectNet(str(tmp_path))


def test_npy_layout(tmp_path):
    ann, img = tmp_path / 'train_set' / 'annotations', tmp_path / 'train_set' / 'images'
    ann.mkdir(parents=True)
    img.mkdir(parents=True)
    codes = {'10': np.array(3), '2': np.array('5'), '7': np.array(1.0), '33': np.array('7')}
    for sid, code in codes.items():
        np.save(ann / f'{sid}_exp.npy', code)
        np.save(ann / f'{sid}_lnd.npy', np.arange(136, dtype=np.float64))
        cv2.imwrite(str(img / f'{sid}.jpg'), np.zeros((12, 12, 3), np.uint8))
    ds = AffectNet(str(tmp_path), layout='npy', with_landmarks=True)
    # ids sorted numerically: 2, 7, 10, 33
    assert [os.path.basename(ds.get_data_info(i)['img_path']) for i in range(4)] == \
        ['2.jpg', '7.jpg', '10.jpg', '33.jpg']
    np.testing.assert_array_equal(ds.get_gt_labels(), [5, 1, 3, 7])
    assert ds.get_data_info(0)['landmarks'][1].tolist() == [2.0, 3.0]
    assert len(AffectNet(str(tmp_path), layout='npy', num_classes=7)) == 3
    np.save(ann / '40_exp.npy', np.array('abc'))
    with pytest.raises(FERDataError, match=r"40_exp\.npy: expression code 'abc'"):
        AffectNet(str(tmp_path), layout='npy')
    np.save(ann / '40_exp.npy', np.array(2))
    with pytest.raises(FileNotFoundError, match=r'40_exp\.npy: image .*40\.jpg'):
        AffectNet(str(tmp_path), layout='npy')
    (tmp_path / 'miss.txt').write_text('40.jpg\n')
    assert len(AffectNet(str(tmp_path), layout='npy', missing_list='miss.txt')) == 4
