import gc
import os

import cv2
import numpy as np
import pytest

from mmfer.datasets.image_folder import FERImageFolder
from mmfer.datasets.sfew import SFEW

# mmengine's BaseDataset runs gc.collect() after serialising its samples; with torch and
# mmpretrain loaded that walks ~370k objects (0.3 s per dataset). Freezing the objects that
# exist now (imports) makes the call cheap; no result depends on it.
gc.freeze()

SFEW_FOLDERS = ('Angry', 'Disgust', 'Fear', 'Happy', 'Neutral', 'Sad', 'Surprise')


def make_tree(root, folders, per_folder=2, ext='.png'):
    for f in folders:
        os.makedirs(root / f, exist_ok=True)
        for i in range(per_folder):
            cv2.imwrite(str(root / f / f'x{i}{ext}'), np.full((8, 8, 3), i, np.uint8))


def test_numeric_folders_sorted_names(tmp_path):
    make_tree(tmp_path, [str(i) for i in range(8)], per_folder=1)
    (tmp_path / '3' / 'notes.txt').write_text('not an image')
    cv2.imwrite(str(tmp_path / '3' / 'UPPER.JPG'), np.zeros((8, 8, 3), np.uint8))
    ds = FERImageFolder(str(tmp_path))
    assert ds.metainfo['classes'] == tuple(str(i) for i in range(8))
    labels = ds.get_gt_labels().tolist()
    folders = [os.path.basename(os.path.dirname(ds.get_data_info(i)['img_path']))
               for i in range(len(ds))]
    assert labels == [int(f) for f in folders] and len(ds) == 9  # index = folder name
    # string order: '10' sorts before '2'
    make_tree(tmp_path / 'more', ['1', '10', '2'], per_folder=1)
    assert FERImageFolder('more', data_root=str(tmp_path)).metainfo['classes'] == \
        ('1', '10', '2')


def test_numeric_folders_with_names_and_remap(tmp_path):
    make_tree(tmp_path, [str(i) for i in range(8)], per_folder=1)
    ds = FERImageFolder(str(tmp_path), folder_classes='affectnet')
    assert ds.metainfo['classes'][7] == 'Contempt'
    assert ds.get_gt_labels().tolist() == list(range(8))
    make_tree(tmp_path / 'seven', [str(i) for i in range(7)], per_folder=1)
    raf = FERImageFolder(str(tmp_path / 'seven'), folder_classes='affectnet7', classes='rafdb')
    assert raf.get_gt_labels().tolist() == [6, 3, 4, 0, 1, 2, 5]
    with pytest.raises(ValueError, match=r"folder '.*7' is not an index 0\.\.6"):
        FERImageFolder(str(tmp_path), folder_classes='affectnet7')


def test_alias_mapping_and_folder_set_check(tmp_path):
    make_tree(tmp_path, SFEW_FOLDERS)
    ds = FERImageFolder(str(tmp_path), classes='rafdb')
    angry = [i for i in range(len(ds)) if '/Angry/' in ds.get_data_info(i)['img_path']]
    assert [ds.get_data_info(i)['gt_label'] for i in angry] == [5, 5]  # Angry → Anger = 5
    assert list(ds.class_counts().values()) == [2] * 7
    # without classes: alphabetical folder order (0 Angry ... 6 Surprise), none of the orders
    assert FERImageFolder(str(tmp_path)).get_data_info(angry[0])['gt_label'] == 0
    with pytest.raises(ValueError, match=r"extra \[\], missing \['Contempt'\]"):
        FERImageFolder(str(tmp_path), classes='affectnet')
    os.makedirs(tmp_path / 'Bored')
    with pytest.raises(ValueError, match=r"folders \['Bored'\] .* are not expression names"):
        FERImageFolder(str(tmp_path), classes='rafdb')


def test_sfew_splits(tmp_path):
    make_tree(tmp_path / 'Train', SFEW_FOLDERS, per_folder=3)
    make_tree(tmp_path / 'Val', SFEW_FOLDERS, per_folder=1, ext='.jpg')
    tr = SFEW(str(tmp_path), split='train', pipeline=[dict(type='LoadFERImage')])
    assert len(tr) == 21 and tr.metainfo['classes'][5] == 'Anger'
    assert tr[0]['img'].shape == (8, 8, 3)
    val = SFEW(str(tmp_path), split='Val')
    by_folder = {os.path.basename(os.path.dirname(val.get_data_info(i)['img_path'])):
                 val.get_data_info(i)['gt_label'] for i in range(len(val))}
    assert by_folder == dict(Angry=5, Disgust=2, Fear=1, Happy=3, Neutral=6, Sad=4, Surprise=0)
    os.rename(tmp_path / 'Val' / 'Fear', tmp_path / 'Val' / 'Scared')
    with pytest.raises(ValueError, match=r"folders \['Scared'\]"):
        SFEW(str(tmp_path), split='val')
    with pytest.raises(FileNotFoundError, match=r"SFEW image root '.*Val' does not exist"):
        SFEW(str(tmp_path / 'x'), split='val')
