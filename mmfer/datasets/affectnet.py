"""AffectNet readers: official CSV release and the "4G" ``*_exp.npy`` release (datasets.md §3)."""
import csv
import itertools
import logging
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Set

import numpy as np
from mmengine.logging import print_log

from mmfer.registry import DATASETS
from .base import BaseFERDataset, FERDataError, FileIndex, format_error, require_dir, require_file
from .class_maps import CLASS_ORDERS, ClassSpec
from .transforms.loading import LoadFERImage

#: Expression codes of the release; 8..10 are not expressions and are always dropped.
AFFECTNET_CODES = ('Neutral', 'Happiness', 'Sadness', 'Surprise', 'Fear', 'Disgust', 'Anger',
                   'Contempt', 'None', 'Uncertain', 'No-Face')
AFFECTNET_CSV_HEADER = ('subDirectory_filePath', 'face_x', 'face_y', 'face_width', 'face_height',
                        'facial_landmarks', 'expression', 'valence', 'arousal')
#: where the release keeps the CSVs: ``Manually_Annotated_file_lists.zip`` unpacks into this
#: folder; many copies have them moved to the root. Searched in this order.
AFFECTNET_CSV_DIRS = ('', 'Manually_Annotated_file_lists')


def find_affectnet_csv(data_root: str, name: str) -> str:
    """``name`` (``training.csv`` / ``validation.csv``) relative to ``data_root``: the first of
    ``AFFECTNET_CSV_DIRS`` that holds it, else ``name`` itself (the reader then raises naming every
    place searched)."""
    for folder in AFFECTNET_CSV_DIRS:
        rel = osp.join(folder, name) if folder else name
        if osp.isfile(osp.join(data_root, rel)):
            return rel
    return name


def is_affectnet_header(row: List[str]) -> bool:
    """Whether a CSV row is the header: told by content, its first field being
    ``subDirectory_filePath`` (a data row's first field is an image path)."""
    return bool(row) and row[0].strip() == AFFECTNET_CSV_HEADER[0]


def parse_landmarks(text: str) -> np.ndarray:
    """``'x1;y1;x2;y2;…'`` → float32 array (K, 2). Raises ``ValueError`` on an odd count."""
    values = np.array([float(v) for v in text.split(';') if v.strip()], dtype=np.float32)
    if values.size == 0 or values.size % 2:
        raise ValueError(f'{values.size} numbers')
    return values.reshape(-1, 2)


def read_npy_code(path: str) -> int:
    """Expression code of a ``<id>_exp.npy`` file: a scalar number or a numeric string."""
    arr = np.load(path, allow_pickle=False)
    if arr.size != 1:
        raise FERDataError(format_error(path, None, f'holds {arr.size} values',
                                        'one scalar expression code 0..7'))
    value = arr.reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode()
    text = str(value).strip()
    expected = 'one scalar expression code 0..7 (a number or a numeric string)'
    try:
        number = float(text)
    except ValueError:
        raise FERDataError(format_error(path, None, f'expression code {text!r}',
                                        expected)) from None
    if not np.isfinite(number) or number != int(number):
        raise FERDataError(format_error(path, None, f'expression code {text!r}', expected))
    return int(number)


@DATASETS.register_module()
class AffectNet(BaseFERDataset):
    """AffectNet (manually annotated part) in the official CSV or the "4G" numpy layout.

    ``layout='csv'`` (default)::

        Manually_Annotated_Images/<subDirectory>/<hash>.jpg
        training.csv  validation.csv     (header: AFFECTNET_CSV_HEADER)
      or, as the release unpacks,
        Manually_Annotated_file_lists/training.csv  Manually_Annotated_file_lists/validation.csv

    The CSVs are looked for at the root first, then in ``Manually_Annotated_file_lists/``; the
    one read is named in the log. The header row is recognised by content (first field
    ``subDirectory_filePath``); a file without it (some copies of ``validation.csv``), i.e. whose
    first line is a data row (≥ 7 fields, an integer expression code), is read from its first
    line, with a WARNING saying so. A first line that is neither, or a header whose first seven
    names differ from :data:`AFFECTNET_CSV_HEADER`, raises.

    ``layout='npy'``::

        train_set/images/<id>.jpg  train_set/annotations/<id>_exp.npy  (also _lnd.npy ...)
        val_set/images/<id>.jpg    val_set/annotations/<id>_exp.npy

    Codes 0 Neutral, 1 Happiness, 2 Sadness, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt
    are kept (7 only with ``num_classes=8``); 8 None, 9 Uncertain, 10 No-Face are dropped. The
    number dropped per reason is logged and kept in ``self.dropped``. The native order is the code
    order, so ``gt_label = code``.

    Samples: ``dict(img_path, gt_label[, face_bbox][, landmarks])``; ``face_bbox = (x, y, w, h)``
    only with ``crop_face=True`` (cropped by :class:`LoadFERImage`), ``landmarks`` (68×2, float32,
    x/y pixels) only with ``with_landmarks=True``.

    Args:
        data_root (str): folder holding the release.
        split (str): ``'train'`` (training.csv / train_set) or ``'val'`` (validation.csv /
            val_set; the official test set is not public, so ``'test'`` is accepted as a synonym).
        layout (str): ``'csv'`` or ``'npy'``.
        num_classes (int): 8 (keeps Contempt) or 7 (drops it).
        crop_face (bool): crop the CSV face box at load time (csv layout only; the npy release is
            pre-cropped). Needs :class:`LoadFERImage` in the pipeline.
        missing_list (str, optional): text file of known-missing images (one path a line, relative
            to the image folder as in the CSV's first column, or ``<id>.jpg`` for npy); they are
            excluded and reported. Any other missing image raises.
        with_landmarks (bool): attach the 68 landmarks (CSV column, or ``<id>_lnd.npy``).
        ann_file (str, optional): CSV file (csv) or annotations folder (npy), relative to
            ``data_root``. Default per split and layout (csv: ``training.csv`` /
            ``validation.csv``, at the root or in ``Manually_Annotated_file_lists/``).
        data_prefix (str, optional): image folder. Default ``Manually_Annotated_Images`` (csv) or
            ``<train|val>_set/images`` (npy).
        classes: output class order (default AffectNet's own), see :class:`BaseFERDataset`.
    """

    METAINFO = dict(classes=CLASS_ORDERS['affectnet'])
    LAYOUTS = ('csv', 'npy')

    def __init__(self, data_root: str, split: str = 'train', layout: str = 'csv',
                 num_classes: int = 8, crop_face: bool = False,
                 missing_list: Optional[str] = None, with_landmarks: bool = False,
                 ann_file: Optional[str] = None, data_prefix: Optional[str] = None,
                 classes: Optional[ClassSpec] = None, **kwargs):
        if split not in ('train', 'val', 'test'):
            raise ValueError(f"AffectNet: split={split!r}; use 'train' or 'val' ('test' = 'val', "
                             'the validation set, as the official test set is not public)')
        if layout not in self.LAYOUTS:
            raise ValueError(f'AffectNet: layout={layout!r}; use one of {self.LAYOUTS}')
        if num_classes not in (7, 8):
            raise ValueError(f'AffectNet: num_classes={num_classes}; use 8 (with Contempt) or 7')
        if crop_face and layout != 'csv':
            raise ValueError('AffectNet: crop_face=True needs the CSV face boxes (layout="csv"); '
                             'the npy release is already cropped')
        self.split = 'train' if split == 'train' else 'val'
        self.layout = layout
        self.num_classes = num_classes
        self.crop_face = crop_face
        self.with_landmarks = with_landmarks
        self.dropped: Dict[str, int] = OrderedDict()
        self._csv_name = None
        if layout == 'csv':
            if not ann_file:
                self._csv_name = 'training.csv' if self.split == 'train' else 'validation.csv'
                ann_file = find_affectnet_csv(data_root, self._csv_name)
            data_prefix = data_prefix if data_prefix is not None else 'Manually_Annotated_Images'
        else:
            folder = 'train_set' if self.split == 'train' else 'val_set'
            ann_file = ann_file or f'{folder}/annotations'
            data_prefix = data_prefix if data_prefix is not None else f'{folder}/images'
        if missing_list and not osp.isabs(missing_list):
            missing_list = osp.join(data_root, missing_list)
        self.missing_list = missing_list
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         classes=classes, **kwargs)
        if crop_face and self.pipeline.transforms and not any(
                isinstance(t, LoadFERImage) for t in self.pipeline.transforms):
            raise ValueError('AffectNet: crop_face=True is applied by LoadFERImage; put '
                             "dict(type='LoadFERImage') first in the pipeline")

    def native_classes(self):
        return AFFECTNET_CODES[:self.num_classes]

    def source_description(self) -> str:
        return f'{self.layout} layout, split {self.split!r}, {self.ann_file}'

    # ----------------------------------------------------------------------------------------
    def _read_missing_list(self) -> Set[str]:
        if not self.missing_list:
            return set()
        require_file(self.missing_list, 'AffectNet missing_list',
                     'give a text file with one image path a line, or leave missing_list unset')
        with open(self.missing_list, encoding='utf-8') as f:
            return {osp.normpath(line.strip()) for line in f
                    if line.strip() and not line.startswith('#')}

    def _keep(self, code: int, path: str, line, known_missing: Set[str], rel: str) -> bool:
        """Apply the code filters and the missing list; count every drop by its reason."""
        if not 0 <= code <= 10:
            raise FERDataError(format_error(path, line, f'unknown expression code {code}',
                                            'an integer code 0..10'))
        if code >= 8:
            reason = f'code {code} {AFFECTNET_CODES[code]}'
        elif code >= self.num_classes:
            reason = 'code 7 Contempt (num_classes=7)'
        elif osp.normpath(rel) in known_missing:
            reason = 'listed in missing_list'
        else:
            return True
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return False

    def load_native_list(self) -> List[dict]:
        require_dir(self.data_root, 'AffectNet data_root', 'set data_root to the release folder')
        self.dropped = OrderedDict()
        known_missing = self._read_missing_list()
        if self.layout == 'csv':
            data_list = self._load_csv(known_missing)
        else:
            data_list = self._load_npy(known_missing)
        if self.dropped:
            print_log(f'AffectNet [{self.source_description()}]: dropped '
                      f'{sum(self.dropped.values())} samples: ' +
                      ', '.join(f'{k}: {v}' for k, v in self.dropped.items()), logger='current')
        return data_list

    def _load_csv(self, known_missing: Set[str]) -> List[dict]:
        if self._csv_name is not None:
            places = ' or '.join(repr(osp.join(self.data_root, d, self._csv_name))
                                 for d in AFFECTNET_CSV_DIRS)
            require_file(self.ann_file, 'AffectNet annotation CSV',
                         f'expected it as {places}, or set ann_file')
            print_log(f'AffectNet: reading {self.ann_file}', logger='current')
        else:
            require_file(self.ann_file, 'AffectNet annotation CSV',
                         'check ann_file (relative to data_root)')
        require_dir(self.img_prefix, 'AffectNet image folder',
                    'expected Manually_Annotated_Images/ under data_root, or set data_prefix')
        path = self.ann_file
        index = FileIndex()
        data_list = []
        # utf-8-sig: a CSV re-saved by a spreadsheet starts with a byte-order mark
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.reader(f)
            first = next(reader, None)
            if first is None:
                raise FERDataError(format_error(path, None, 'the file is empty',
                                                ','.join(AFFECTNET_CSV_HEADER)))
            looks_like_data = len(first) >= 7 and first[6].strip().lstrip('-').isdigit()
            if is_affectnet_header(first) or not looks_like_data:
                # a header, or a first line that is neither the header nor a data row
                if [h.strip() for h in first[:7]] != list(AFFECTNET_CSV_HEADER[:7]):
                    raise FERDataError(format_error(path, 1, f'header {first}',
                                                    ','.join(AFFECTNET_CSV_HEADER)))
                rows = reader
            else:
                print_log(f'AffectNet: {path} has no header row (line 1 is {",".join(first[:1])}'
                          f'...); reading every line as data in the column order '
                          f'{",".join(AFFECTNET_CSV_HEADER)}', logger='current',
                          level=logging.WARNING)
                rows = itertools.chain([first], reader)
            for row in rows:
                line = reader.line_num
                if not row:
                    continue
                if len(row) < 7:
                    raise FERDataError(format_error(path, line, f'{len(row)} columns',
                                                    f'{len(AFFECTNET_CSV_HEADER)} columns'))
                try:
                    code = int(row[6])
                except ValueError:
                    raise FERDataError(format_error(path, line, f'expression {row[6]!r}',
                                                    'an integer code 0..10')) from None
                rel = row[0].strip()
                if not self._keep(code, path, line, known_missing, rel):
                    continue
                info = dict(img_path=osp.join(self.img_prefix, rel), gt_label=code)
                self.check_image(index, info['img_path'], path, line,
                                 'restore it, or list it in missing_list to exclude it')
                if self.crop_face:
                    try:
                        info['face_bbox'] = tuple(float(v) for v in row[1:5])
                    except ValueError:
                        raise FERDataError(format_error(
                            path, line, f'face box {row[1:5]}',
                            'face_x,face_y,face_width,face_height numbers')) from None
                if self.with_landmarks:
                    try:
                        info['landmarks'] = parse_landmarks(row[5])
                    except ValueError as e:
                        raise FERDataError(format_error(
                            path, line, f'facial_landmarks has {e}',
                            "'x1;y1;x2;y2;…' with an even count")) from None
                data_list.append(info)
        return data_list

    def _load_npy(self, known_missing: Set[str]) -> List[dict]:
        ann_dir = self.ann_file
        require_dir(ann_dir, 'AffectNet annotations folder',
                    'expected train_set/annotations or val_set/annotations under data_root')
        require_dir(self.img_prefix, 'AffectNet image folder',
                    'expected train_set/images or val_set/images under data_root')
        ids = [n[:-len('_exp.npy')] for n in os.listdir(ann_dir) if n.endswith('_exp.npy')]
        ids.sort(key=lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s))
        index = FileIndex()
        data_list = []
        for sid in ids:
            exp_path = osp.join(ann_dir, f'{sid}_exp.npy')
            code = read_npy_code(exp_path)
            if not self._keep(code, exp_path, None, known_missing, f'{sid}.jpg'):
                continue
            info = dict(img_path=osp.join(self.img_prefix, f'{sid}.jpg'), gt_label=code)
            self.check_image(index, info['img_path'], exp_path, None,
                             'restore it, or list it in missing_list to exclude it')
            if self.with_landmarks:
                lnd_path = osp.join(ann_dir, f'{sid}_lnd.npy')
                require_file(lnd_path, 'AffectNet landmark file',
                             'set with_landmarks=False, or restore the _lnd.npy file')
                lnd = np.load(lnd_path, allow_pickle=False).astype(np.float32).reshape(-1)
                if lnd.size % 2:
                    raise FERDataError(format_error(lnd_path, None, f'{lnd.size} numbers',
                                                    'x/y pairs'))
                info['landmarks'] = lnd.reshape(-1, 2)
            data_list.append(info)
        return data_list
