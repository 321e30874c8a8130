import gc
import itertools
import os

import numpy as np
import pytest
from mmpretrain.datasets import KFoldDataset

from mmfer.datasets.base import FERDataError
from mmfer.datasets.kdef import KDEF, parse_kdef_name
from mmfer.registry import DATASETS

# mmengine's BaseDataset runs gc.collect() after serialising its samples; with torch and
# mmpretrain loaded that walks ~370k objects (0.3 s per dataset). Freezing the objects that
# exist now (imports) makes the call cheap; no result depends on it.
gc.freeze()

EXPR = ('AF', 'AN', 'DI', 'HA', 'NE', 'SA', 'SU')
ANGLES = ('FL', 'HL', 'S', 'HR', 'FR')


def make_kdef(root, skip=(), angles=ANGLES):
    """The KDEF grid (4,900 files for all angles) as empty files; the reader only lists names."""
    for s, g, p in itertools.product('AB', 'FM', range(1, 36)):
        code = f'{s}{g}{p:02d}'
        os.makedirs(root / code, exist_ok=True)
        for e, a in itertools.product(EXPR, angles):
            if f'{code}{e}{a}' not in skip:
                open(root / code / f'{code}{e}{a}.JPG', 'w').close()


def test_parse_names():
    assert parse_kdef_name('AF01AFFL') == dict(session='A', gender='F', person='01',
                                               identity='F01', expression='Fear',
                                               angle_code='FL', angle=-90)
    info = parse_kdef_name('BM35NES')
    assert (info['session'], info['gender'], info['person'], info['expression'],
            info['angle']) == ('B', 'M', '35', 'Neutral', 0)
    assert parse_kdef_name('am01hahr')['angle'] == 45
    assert parse_kdef_name('AF01XXS') is None and parse_kdef_name('AF01AFS2') is None


@pytest.fixture(scope='module')
def kdef_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('kdef')
    make_kdef(root, angles=('S', 'HR'))  # 1,960 of the 4,900 files keeps the test fast
    return root


def test_subject_folds_with_kfold_wrapper(kdef_root):
    cfg = dict(type='KDEF', data_root=str(kdef_root), angles=['S', 'HR'])
    ds = DATASETS.build(cfg)
    assert len(ds) == 1960 and ds.missing_combinations == []
    assert list(ds.class_counts().values()) == [280] * 7
    assert len(ds.identity_folds) == 70
    assert sorted(np.bincount(list(ds.identity_folds.values())).tolist()) == [7] * 10
    first = ds.get_data_info(0)
    assert first['fold'] == 0 and first['identity'] in ds.identity_folds
    folds_seen = set()
    for k in (0, 9):
        # as a config would write it (mmpretrain's KFoldDataset takes the dataset as a config)
        test, train = (DATASETS.build(dict(type='KFoldDataset', fold=k, num_splits=10, seed=None,
                                           test_mode=mode, dataset=cfg))
                       for mode in (True, False))
        assert isinstance(test, KFoldDataset)
        test_ids = {test.get_data_info(i)['identity'] for i in range(len(test))}
        train_ids = {train.get_data_info(i)['identity'] for i in range(len(train))}
        assert (len(test), len(train), len(test_ids), len(train_ids)) == (196, 1764, 7, 63)
        assert not test_ids & train_ids  # every image of an identity is in one fold
        assert {test.get_data_info(i)['fold'] for i in range(len(test))} == {k}
        folds_seen |= test_ids
    assert len(folds_seen) == 14
    # another seed gives another identity assignment
    assert KDEF(str(kdef_root), angles=['S', 'HR'], fold_seed=1).identity_folds != \
        ds.identity_folds


def test_angles_image_mode_and_remap(kdef_root):
    front = KDEF(str(kdef_root), angles=['S'])
    assert len(front) == 980
    assert {front.get_data_info(i)['angle'] for i in range(980)} == {0}
    assert len(KDEF(str(kdef_root), angles=[0, 'hr'])) == 1960
    img = KDEF(str(kdef_root), fold_mode='image', angles=['S'])
    folds = np.array([img.get_data_info(i)['fold'] for i in range(len(img))])
    labels = img.get_gt_labels()
    assert np.all(np.diff(folds) >= 0)  # ordered by fold for KFoldDataset
    for k in range(10):  # stratified: 980 / 10 = 98 per fold, 14 per class
        assert np.bincount(labels[folds == k], minlength=7).tolist() == [14] * 7
    ids0 = {img.get_data_info(i)['identity'] for i in np.where(folds == 0)[0]}
    assert len(ids0) > 7  # images, not identities, are split
    aff = KDEF(str(kdef_root), angles=['S'], classes='affectnet7')
    assert aff.metainfo['classes'][0] == 'Neutral'
    assert list(aff.class_counts().values()) == [140] * 7
    with pytest.raises(ValueError, match='unknown angle 30'):
        KDEF(str(kdef_root), angles=[30])
    # all five angles requested on a tree with two: the absent combinations are reported
    assert len(KDEF(str(kdef_root)).missing_combinations) == 2 * 70 * 7 * 3


def test_missing_files_and_bad_names(tmp_path):
    make_kdef(tmp_path, skip={'AF01AFS', 'BM35NES'}, angles=('S', ))
    with pytest.raises(FERDataError, match=r'subject folds hold .*\(2 images missing'):
        KDEF(str(tmp_path), angles=['S'])
    ds = KDEF(str(tmp_path), angles=['S'], num_folds=None)
    assert len(ds) == 978
    assert ds.missing_combinations == [('A', 'F01', 'Fear', 'S'), ('B', 'M35', 'Neutral', 'S')]
    assert len(KDEF(str(tmp_path), angles=['S'], fold_mode='image')) == 978
    open(tmp_path / 'AF01' / 'AF01XXS.JPG', 'w').close()
    with pytest.raises(FERDataError, match=r'AF01XXS\.JPG: file name does not follow the KDEF'):
        KDEF(str(tmp_path), num_folds=None)
    assert len(KDEF(str(tmp_path), angles=['S'], num_folds=None, strict=False)) == 978
    with pytest.raises(FileNotFoundError, match='KDEF data_root'):
        KDEF(str(tmp_path / 'none'))
