import gc
import os

import cv2
import numpy as np
import pytest

from mmfer.datasets.base import FERDataError
from mmfer.datasets.ferplus import FERPlus, ferplus_majority_label

# mmengine's BaseDataset runs gc.collect() after serialising its samples; with torch and
# mmpretrain loaded that walks ~370k objects (0.3 s per dataset). Freezing the objects that
# exist now (imports) makes the call cheap; no result depends on it.
gc.freeze()

FER2013_HEADER = 'emotion,pixels,Usage'
FERPLUS_HEADER = ('Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,'
                  'contempt,unknown,NF')

# (usage, name, votes) — row i of fer2013new.csv; expected outcome in the comment
ROWS = [
    ('Training', 'fer0000000.png', (6, 0, 1, 1, 0, 0, 0, 0, 2, 0)),    # Neutral 0
    ('Training', '', (10, 0, 0, 0, 0, 0, 0, 0, 0, 0)),                 # no name → dropped
    ('Training', 'fer0000002.png', (4, 0, 0, 1, 3, 2, 0, 0, 0, 0)),    # no majority
    ('Training', 'fer0000000.png', (2, 0, 0, 8, 0, 0, 0, 0, 0, 0)),    # Sadness 3 (dup name)
    ('PublicTest', 'fer0000010.png', (0, 0, 6, 0, 0, 0, 4, 0, 0, 0)),  # Surprise 2
    ('PrivateTest', 'fer0000020.png', (0, 0, 0, 0, 0, 0, 0, 0, 3, 7)),  # NF → dropped
    ('PrivateTest', 'fer0000021.png', (0, 0, 0, 0, 0, 0, 0, 10, 0, 0)),  # Contempt 7
    ('PrivateTest', 'fer0000022.png', (0, 0, 0, 0, 0, 0, 0, 0, 8, 2)),  # unknown → dropped
    ('Training', 'fer0000030.png', (0, 0, 0, 0, 0, 0, 9, 1, 0, 0)),    # Fear 6
    ('PrivateTest', 'fer0000020.png', (0, 10, 0, 0, 0, 0, 0, 0, 0, 0)),  # Happiness 1 (dup)
]


def pixels(i):
    return (np.arange(48 * 48) + 7 * i) % 256


def write_csv_pair(root, rows=ROWS, mutate=None):
    fer = [FER2013_HEADER]
    new = [FERPLUS_HEADER]
    for i, (usage, name, votes) in enumerate(rows):
        fer.append(f'0,"{" ".join(map(str, pixels(i)))}",{usage}')
        new.append(f'{usage},{name},' + ','.join(map(str, votes)))
    if mutate:
        mutate(fer, new)
    (root / 'fer2013.csv').write_text('\n'.join(fer) + '\n')
    (root / 'fer2013new.csv').write_text('\n'.join(new) + '\n')


@pytest.mark.parametrize('votes,label', [
    ((4, 0, 0, 1, 3, 2, 0, 0, 0, 0), None),
    ((6, 0, 1, 1, 0, 0, 0, 0, 2, 0), 0),
    ((5, 0, 5, 0, 0, 0, 0, 0, 0, 0), None),
    ((2, 0, 0, 8, 0, 0, 0, 0, 0, 0), 3),
    ((0, 0, 6, 0, 0, 0, 4, 0, 0, 0), 2),
    ((0, 0, 0, 0, 0, 0, 0, 0, 3, 7), 9),  # NF majority: the reader drops it
    ((1, 1, 1, 1, 1, 1, 1, 1, 1, 1), None),  # all single votes removed → s = 0
])
def test_majority_vote_worked_examples(votes, label):
    assert ferplus_majority_label(votes) == label


def test_csv_pair_splits_labels_and_duplicates(tmp_path):
    write_csv_pair(tmp_path)
    tr = FERPlus(str(tmp_path), split='train', pipeline=[dict(type='LoadFERImage')])
    np.testing.assert_array_equal(tr.get_gt_labels(), [0, 3, 6])
    assert dict(tr.dropped) == {'no Image name': 1, 'no majority': 1}
    assert tr.duplicate_names == {'fer0000000.png': 2, 'fer0000020.png': 2}
    info = tr.get_data_info(1)  # data row 3, the second fer0000000.png
    assert info['img_name'] == 'fer0000000.png' and info['img_path'].endswith('fer2013.csv#row3')
    np.testing.assert_array_equal(info['img'], pixels(3).reshape(48, 48))
    assert info['votes'].tolist() == [2, 0, 0, 8, 0, 0, 0, 0, 0, 0]
    out = tr[0]
    assert out['img'].shape == (48, 48, 3)
    np.testing.assert_array_equal(out['img'][..., 1], pixels(0).reshape(48, 48))
    assert FERPlus(str(tmp_path), split='PublicTest').get_gt_labels().tolist() == [2]
    te = FERPlus(str(tmp_path), split='test')
    assert te.get_gt_labels().tolist() == [7, 1]
    assert dict(te.dropped) == {'majority NF (not a face)': 1, 'majority unknown': 1}
    te7 = FERPlus(str(tmp_path), split='PrivateTest', num_classes=7)
    assert te7.get_gt_labels().tolist() == [1]
    assert te7.dropped['Contempt (num_classes=7)'] == 1
    # cross-dataset order: FERPlus-7 → RAF-DB (Neutral 6, Sadness 4, Fear 1)
    assert FERPlus(str(tmp_path), num_classes=7, classes='rafdb').get_gt_labels().tolist() == \
        [6, 4, 1]


def test_csv_pair_errors(tmp_path):
    def usage_mismatch(fer, new):
        fer[3] = fer[3].replace('Training', 'PublicTest')

    write_csv_pair(tmp_path, mutate=usage_mismatch)
    with pytest.raises(FERDataError, match=r"fer2013\.csv, line 4: Usage 'PublicTest' but .*"
                                           r"fer2013new\.csv line 4 has 'Training'"):
        FERPlus(str(tmp_path))

    def short_pixels(fer, new):
        fer[1] = '0,"1 2 3",Training'

    write_csv_pair(tmp_path, mutate=short_pixels)
    with pytest.raises(FERDataError, match=r'fer2013\.csv, line 2: 3 pixel values.*2304'):
        FERPlus(str(tmp_path))

    write_csv_pair(tmp_path, mutate=lambda fer, new: fer.pop())
    with pytest.raises(FERDataError, match=r'fer2013\.csv: ends at data row 9 while'):
        FERPlus(str(tmp_path))

    def bad_votes(fer, new):
        new[1] = 'Training,fer0000000.png,a,0,0,0,0,0,0,0,0,0'

    write_csv_pair(tmp_path, mutate=bad_votes)
    with pytest.raises(FERDataError, match=r'fer2013new\.csv, line 2: vote counts'):
        FERPlus(str(tmp_path))
    os.remove(tmp_path / 'fer2013.csv')
    with pytest.raises(FileNotFoundError, match=r'fer2013\.csv.*does not exist'):
        FERPlus(str(tmp_path))


@pytest.mark.parametrize('box', [True, False])
def test_folder_layout_both_flavours(tmp_path, box):
    folder = tmp_path / 'FER2013Valid'
    folder.mkdir()
    lines = []
    for i, (_, name, votes) in enumerate(ROWS):
        if not name or name in [ln.split(',')[0] for ln in lines]:
            continue
        cv2.imwrite(str(folder / name), pixels(i).reshape(48, 48).astype(np.uint8))
        box_col = '"(0, 0, 48, 48)",' if box else ''
        lines.append(f'{name},{box_col}' + ','.join(map(str, votes)))
    (folder / 'label.csv').write_text('\n'.join(lines) + '\n')
    ds = FERPlus(str(tmp_path), split='val', source='folder',
                 pipeline=[dict(type='LoadFERImage')])
    # unique names in order: 0000 (N), 0002 (drop), 0010 (Su), 0020 (NF drop), 0021 (C),
    # 0022 (unknown drop), 0030 (Fear)
    assert ds.get_gt_labels().tolist() == [0, 2, 7, 6]
    assert [ds.get_data_info(i)['votes'].tolist() for i in (1, 3)] == [list(ROWS[4][2]),
                                                                       list(ROWS[8][2])]
    assert ds[1]['img'].shape == (48, 48, 3)
    with open(folder / 'label.csv', 'a') as f:
        f.write('fer0000099.png,1,2,3\n')
    with pytest.raises(FERDataError, match=rf'label\.csv, line {len(lines) + 1}: 4 columns'):
        FERPlus(str(tmp_path), split='val', source='folder')
    with pytest.raises(FileNotFoundError, match='FERPlus split folder'):
        FERPlus(str(tmp_path), split='train', source='folder')
