import gc
import importlib.util
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmfer.datasets.base import FERDataError
from mmfer.datasets.ferplus import FERPlus
from mmfer.datasets.list_file import FERListDataset

# mmengine's BaseDataset runs gc.collect() after serialising its samples; with torch and
# mmpretrain loaded that walks ~370k objects (0.3 s per dataset). Freezing the objects that
# exist now (imports) makes the call cheap; no result depends on it.
gc.freeze()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'dataset_converters', 'ferplus_to_folder.py')

# (usage, name, votes): two Training rows share a name; one row has no name
ROWS = [
    ('Training', 'fer0000000.png', (6, 0, 1, 1, 0, 0, 0, 0, 2, 0)),    # Neutral
    ('Training', '', (10, 0, 0, 0, 0, 0, 0, 0, 0, 0)),                 # no name
    ('Training', 'fer0000000.png', (2, 0, 0, 8, 0, 0, 0, 0, 0, 0)),    # Sadness, duplicate
    ('Training', 'fer0000003.png', (4, 0, 0, 1, 3, 2, 0, 0, 0, 0)),    # no majority
    ('PublicTest', 'fer0000010.png', (0, 0, 0, 0, 0, 0, 0, 10, 0, 0)),  # Contempt
    ('PrivateTest', 'fer0000020.png', (0, 0, 6, 0, 0, 0, 4, 0, 0, 0)),  # Surprise
]


def write_pair(root):
    fer = ['emotion,pixels,Usage']
    new = ['Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,'
           'unknown,NF']
    for i, (usage, name, votes) in enumerate(ROWS):
        fer.append('0,"' + ' '.join(str((j + 40 * i) % 256) for j in range(2304)) + f'",{usage}')
        new.append(f'{usage},{name},' + ','.join(map(str, votes)))
    (root / 'fer2013.csv').write_text('\n'.join(fer) + '\n')
    (root / 'fer2013new.csv').write_text('\n'.join(new) + '\n')


def test_converter_writes_folders_and_lists(tmp_path):
    write_pair(tmp_path)
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, TOOL, str(tmp_path / 'fer2013.csv'),
                           str(tmp_path / 'fer2013new.csv'), str(out), '--list', '--box-column'],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'FER2013Train: duplicates renamed 1, images 3, list lines 2, no name 1, ' \
           'not in list 1' in proc.stdout
    train = out / 'FER2013Train'
    assert sorted(os.listdir(train)) == ['fer0000000.png', 'fer0000000_dup1.png',
                                         'fer0000003.png', 'label.csv']
    assert (train / 'label.csv').read_text().splitlines()[1] == \
        'fer0000000_dup1.png,"(0, 0, 48, 48)",2,0,0,8,0,0,0,0,0,0'
    dup = cv2.imread(str(train / 'fer0000000_dup1.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(dup.reshape(-1), (np.arange(2304) + 80) % 256)  # row 2, lossless
    assert (out / 'ferplus_train.txt').read_text().splitlines() == [
        'FER2013Train/fer0000000.png 0', 'FER2013Train/fer0000000_dup1.png 3']
    assert (out / 'ferplus_val.txt').read_text() == 'FER2013Valid/fer0000010.png 7\n'
    # the outputs read back with the folder reader and the list reader, same labels as the CSVs
    csv_labels = FERPlus(str(tmp_path), split='train').get_gt_labels().tolist()
    assert FERPlus(str(out), split='train', source='folder').get_gt_labels().tolist() == \
        csv_labels == [0, 3]
    lst = FERListDataset(str(out / 'ferplus_test.txt'), classes='ferplus', data_prefix=str(out))
    assert lst.get_gt_labels().tolist() == [2]


def load_tool():
    spec = importlib.util.spec_from_file_location('ferplus_to_folder', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converter_error_names_file_and_line(tmp_path):
    # in-process (one subprocess above already covers the CLI; each costs a full mmfer import)
    write_pair(tmp_path)
    lines = (tmp_path / 'fer2013.csv').read_text().splitlines()
    lines[3] = '0,"1 2 3",Training'
    (tmp_path / 'fer2013.csv').write_text('\n'.join(lines) + '\n')
    with pytest.raises(FERDataError, match=r'fer2013\.csv, line 4: 3 pixel values\. Expected: 2304'):
        load_tool().main([str(tmp_path / 'fer2013.csv'), str(tmp_path / 'fer2013new.csv'),
                          str(tmp_path / 'out')])
