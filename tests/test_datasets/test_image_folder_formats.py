"""FERImageFolder reads every 8-bit format OpenCV decodes and warns about other files
(issue 10, item 8): a ``.tif`` in a class folder was silently skipped before."""
import gc
import logging
import os

import cv2
import numpy as np
import pytest

import mmfer.datasets.image_folder as folder_mod
from mmfer.datasets.image_folder import IMAGE_EXTENSIONS, FERImageFolder
from mmfer.datasets.transforms.loading import LoadFERImage

gc.freeze()  # BaseDataset's gc.collect() is cheap over frozen import-time objects


@pytest.fixture
def logs(monkeypatch):
    records = []
    monkeypatch.setattr(folder_mod, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: records.append((msg, level)))
    return records


def image(ext):
    """32×32 test image (JPEG 2000 needs more than a few pixels; .pbm/.pgm are 1-channel)."""
    img = (np.arange(32 * 32 * 3).reshape(32, 32, 3) * 7 % 256).astype(np.uint8)
    return img[..., 0] if ext in ('.pbm', '.pgm') else img


def test_every_listed_extension_is_read_and_decoded(tmp_path, logs):
    assert {'.tif', '.tiff', '.webp', '.bmp', '.ppm', '.pgm', '.jp2'} <= set(IMAGE_EXTENSIONS)
    os.makedirs(tmp_path / 'Happy')
    os.makedirs(tmp_path / 'Sad')
    for i, ext in enumerate(IMAGE_EXTENSIONS):
        # upper case for every other one: extensions match case-insensitively
        name = f'f{i:02d}{ext.upper() if i % 2 else ext}'
        assert cv2.imwrite(str(tmp_path / 'Happy' / name), image(ext)), ext
    cv2.imwrite(str(tmp_path / 'Sad' / 'a.png'), image('.png'))
    ds = FERImageFolder(str(tmp_path), classes=('Happiness', 'Sadness'))
    assert len(ds) == len(IMAGE_EXTENSIONS) + 1 == 17
    assert ds.class_counts() == {'Happiness': 16, 'Sadness': 1}
    assert ds.skipped_files == {} and not [m for m, lvl in logs if lvl == logging.WARNING]
    load = LoadFERImage()
    shapes = {os.path.splitext(ds.get_data_info(i)['img_path'])[1].lower():
              load(dict(img_path=ds.get_data_info(i)['img_path']))['img'].shape
              for i in range(len(ds))}
    assert set(shapes) == set(IMAGE_EXTENSIONS)
    assert set(shapes.values()) == {(32, 32, 3)}  # every file decoded, gray → 3 channels


def test_other_files_skipped_with_count_and_examples(tmp_path, logs):
    for folder in ('0', '1'):
        os.makedirs(tmp_path / folder)
        cv2.imwrite(str(tmp_path / folder / 'a.tif'), image('.tif'))
    (tmp_path / '0' / 'notes.txt').write_text('x')
    (tmp_path / '0' / 'Thumbs.db').write_bytes(b'\0')
    (tmp_path / '1' / 'Thumbs.db').write_bytes(b'\0')
    (tmp_path / '1' / '.DS_Store').write_bytes(b'\0')
    ds = FERImageFolder(str(tmp_path))
    assert len(ds) == 2 and ds.get_gt_labels().tolist() == [0, 1]  # the .tif files
    # hidden files (.DS_Store) are not listed at all (mmengine's folder listing skips them)
    assert ds.skipped_files == {'.db': 2, '.txt': 1}
    warnings = [m for m, lvl in logs if lvl == logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0]
    assert 'skipped 3 file(s) in the class folders of' in msg
    assert '.db ×2, .txt ×1' in msg
    assert "e.g. ['0/Thumbs.db', '0/notes.txt', '1/Thumbs.db']" in msg
    assert 'Fix: remove them' in msg


def test_extensions_option_still_restricts(tmp_path, logs):
    os.makedirs(tmp_path / '0')
    cv2.imwrite(str(tmp_path / '0' / 'a.png'), image('.png'))
    cv2.imwrite(str(tmp_path / '0' / 'b.tif'), image('.tif'))
    ds = FERImageFolder(str(tmp_path), extensions=('.png', ))
    assert len(ds) == 1 and ds.skipped_files == {'.tif': 1}
    assert "accepted: .png" in [m for m, lvl in logs if lvl == logging.WARNING][0]
