"""FERPlus readers: the FER2013 / FER+ CSV pair and the generated folder layout (datasets.md §4)."""
import csv
import itertools
import os.path as osp
from collections import Counter, OrderedDict
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from mmfer.registry import DATASETS
from .base import BaseFERDataset, FERDataError, FileIndex, format_error, require_dir, require_file
from .class_maps import CLASS_ORDERS, ClassSpec

#: The ten vote columns of fer2013new.csv / label.csv (8 emotions, unknown, NF).
FERPLUS_VOTE_COLUMNS = ('neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear',
                        'contempt', 'unknown', 'NF')
FERPLUS_HEADER = ('Usage', 'Image name') + FERPLUS_VOTE_COLUMNS
FER2013_HEADER = ('emotion', 'pixels', 'Usage')
#: split → (FER2013 ``Usage`` value, generated folder name)
FERPLUS_SPLITS = OrderedDict(train=('Training', 'FER2013Train'),
                             val=('PublicTest', 'FER2013Valid'),
                             test=('PrivateTest', 'FER2013Test'))
UNKNOWN, NO_FACE = 8, 9


def ferplus_majority_label(votes: Sequence[int]) -> Optional[int]:
    """FER+ "majority" label of 10 vote counts, or ``None`` when there is no majority.

    1. outlier removal: counts ≤ 1 become 0; 2. s = Σv, m = max v; 3. the label is argmax v when
    m > s/2 (so ties never pass), else ``None``. The result may be 8 (unknown) or 9 (NF), which the
    reader drops. E.g. (6,0,1,1,0,0,0,0,2,0) → (6,0,0,0,0,0,0,0,2,0), 6 > 4 → 0 (Neutral).
    """
    v = np.asarray(votes, dtype=np.int64)
    if v.shape != (10, ):
        raise ValueError(f'FER+ needs 10 vote counts, got shape {v.shape}')
    v = np.where(v <= 1, 0, v)
    m, s = int(v.max()), int(v.sum())
    if 2 * m <= s:  # strict majority m > s/2 in integers; s = 0 also lands here
        return None
    return int(v.argmax())


class FERCSVRow(NamedTuple):
    """One data row of the FER2013 / FER+ CSV pair (``index`` is the 0-based data row)."""
    index: int
    usage: str
    name: str
    vote_fields: List[str]
    pixels: str
    ferplus_line: int
    fer2013_line: int


def iter_fer_csv_pair(fer2013_file: str, ferplus_file: str) -> Iterator[FERCSVRow]:
    """Walk ``fer2013.csv`` and ``fer2013new.csv`` row by row, checking that they align.

    Raises on a missing file, a wrong header, a wrong column count, a ``Usage`` that differs
    between the two files or a different number of rows, naming the file and line.
    """
    fix = 'put the FER2013 / FER+ CSV pair under data_root or set fer2013_file / ferplus_file'
    require_file(ferplus_file, 'FER+ label file (fer2013new.csv)', fix)
    require_file(fer2013_file, 'FER2013 pixel file (fer2013.csv)', fix)
    same_rows = 'use the fer2013.csv that fer2013new.csv was made from (same rows, same order)'
    with open(ferplus_file, newline='', encoding='utf-8') as fa, \
            open(fer2013_file, newline='', encoding='utf-8') as fb:
        ra, rb = csv.reader(fa), csv.reader(fb)
        for reader, path, header in ((ra, ferplus_file, FERPLUS_HEADER),
                                     (rb, fer2013_file, FER2013_HEADER)):
            found = next(reader, None)
            if found is None or tuple(h.strip() for h in found) != header:
                raise FERDataError(format_error(path, 1, f'header {found}', ','.join(header)))
        for index, (a, b) in enumerate(itertools.zip_longest(ra, rb)):
            if a is None or b is None:
                longer, path = (ferplus_file, fer2013_file) if b is None else \
                    (fer2013_file, ferplus_file)
                raise FERDataError(format_error(path, None, f'ends at data row {index} while '
                                                f'{longer} goes on', fix=same_rows))
            if len(a) != len(FERPLUS_HEADER):
                raise FERDataError(format_error(ferplus_file, ra.line_num, f'{len(a)} columns',
                                                ','.join(FERPLUS_HEADER)))
            if len(b) != len(FER2013_HEADER):
                raise FERDataError(format_error(fer2013_file, rb.line_num, f'{len(b)} columns',
                                                ','.join(FER2013_HEADER)))
            if a[0] != b[2]:
                raise FERDataError(format_error(
                    fer2013_file, rb.line_num, f'Usage {b[2]!r} but {ferplus_file} line '
                    f'{ra.line_num} has {a[0]!r}', fix=same_rows))
            yield FERCSVRow(index, a[0], a[1].strip(), a[2:], b[1], ra.line_num, rb.line_num)


def parse_votes(fields: Sequence[str], path: str, line: int,
                expected: str = '10 non-negative vote counts') -> np.ndarray:
    """Ten vote-count strings → int64 array (10,); anything else raises naming file and line."""
    try:
        votes = np.array([int(v) for v in fields], dtype=np.int64)
    except ValueError:
        raise FERDataError(format_error(path, line, f'vote counts {list(fields)}',
                                        expected)) from None
    if len(votes) != 10 or (votes < 0).any():
        raise FERDataError(format_error(path, line, f'vote counts {list(fields)}', expected))
    return votes


def parse_fer_pixels(text: str, path: str, line: int, size: int = 48) -> np.ndarray:
    """``'p0 p1 …'`` (size² values 0..255, row-major) → uint8 array (size, size)."""
    expected = f'{size * size} space-separated values 0..255'
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        raise FERDataError(format_error(path, line, 'non-integer pixel value', expected)) from None
    if values.size != size * size:
        raise FERDataError(format_error(path, line, f'{values.size} pixel values', expected))
    if values.min() < 0 or values.max() > 255:
        raise FERDataError(format_error(path, line, 'pixel value out of 0..255', expected))
    return values.astype(np.uint8).reshape(size, size)


@DATASETS.register_module()
class FERPlus(BaseFERDataset):
    """FERPlus with the official majority-vote labels.

    ``source='csv'`` (default) reads ``fer2013.csv`` (header ``emotion,pixels,Usage``; 48×48 gray
    pixels) and ``fer2013new.csv`` (header ``Usage,Image name,neutral,…,NF``; row i describes row i
    of fer2013.csv). Rows with an empty image name are dropped; samples are keyed by row, so the
    four names that occur twice are kept as separate samples (and logged). The images stay in
    memory: ``img`` is a 48×48 uint8 array, ``img_path`` the descriptive ``<fer2013.csv>#row<i>``
    (i = 0-based data row) and ``img_name`` the FER+ name.

    ``source='folder'`` reads ``FER2013Train|FER2013Valid|FER2013Test/label.csv`` (no header;
    ``name,"(0, 0, 48, 48)",v1,…,v10`` or ``name,v1,…,v10``) and the PNGs next to it.

    Labels follow :func:`ferplus_majority_label`; samples whose majority is unknown or NF or which
    have no majority are dropped (counts per reason logged, kept in ``self.dropped``). Splits:
    ``train`` = Training, ``val`` = PublicTest, ``test`` = PrivateTest (FER2013 names accepted).
    The 10 vote counts are attached as ``votes`` (int64 array) for label-distribution methods.

    Args:
        data_root (str): folder holding the CSV pair or the three generated folders.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        source (str): ``'csv'`` or ``'folder'``.
        num_classes (int): 8 or 7 (drops Contempt).
        fer2013_file / ferplus_file (str): CSV names under ``data_root`` (csv source).
        label_file (str): name of the label file inside the split folder (folder source).
        label_mode (str): only ``'majority'`` (probability / multi-target modes are not
            implemented).
        classes: output class order (default FERPlus's own), see :class:`BaseFERDataset`.
    """

    METAINFO = dict(classes=CLASS_ORDERS['ferplus'])
    IMAGE_SIZE = 48

    def __init__(self, data_root: str, split: str = 'train', source: str = 'csv',
                 num_classes: int = 8, fer2013_file: str = 'fer2013.csv',
                 ferplus_file: str = 'fer2013new.csv', label_file: str = 'label.csv',
                 label_mode: str = 'majority', classes: Optional[ClassSpec] = None, **kwargs):
        usage_to_split = {usage: key for key, (usage, _) in FERPLUS_SPLITS.items()}
        split = usage_to_split.get(split, split)
        if split not in FERPLUS_SPLITS:
            raise ValueError(f'FERPlus: split={split!r}; use train / val / test '
                             '(or Training / PublicTest / PrivateTest)')
        if source not in ('csv', 'folder'):
            raise ValueError(f"FERPlus: source={source!r}; use 'csv' or 'folder'")
        if num_classes not in (7, 8):
            raise ValueError(f'FERPlus: num_classes={num_classes}; use 8 or 7 (no Contempt)')
        if label_mode != 'majority':
            raise NotImplementedError(f"FERPlus: label_mode={label_mode!r}; only 'majority' is "
                                      'implemented')
        self.split = split
        self.source = source
        self.num_classes = num_classes
        self.label_file = label_file
        self.dropped: Dict[str, int] = OrderedDict()
        self.duplicate_names: Dict[str, int] = {}
        if source == 'csv':
            self.fer2013_file = fer2013_file if osp.isabs(fer2013_file) else \
                osp.join(data_root, fer2013_file)
            ann_file = ferplus_file
        else:
            self.fer2013_file = None
            ann_file = osp.join(FERPLUS_SPLITS[split][1], label_file)
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix='',
                         classes=classes, **kwargs)

    def native_classes(self):
        return CLASS_ORDERS['ferplus'][:self.num_classes]

    def source_description(self) -> str:
        return f'split {self.split!r} ({FERPLUS_SPLITS[self.split][0]}), {self.ann_file}'

    def _label(self, votes: Sequence[int]) -> Tuple[Optional[int], str]:
        """Majority label and, for a dropped sample, the reason."""
        label = ferplus_majority_label(votes)
        if label is None:
            return None, 'no majority'
        if label == UNKNOWN:
            return None, 'majority unknown'
        if label == NO_FACE:
            return None, 'majority NF (not a face)'
        if label >= self.num_classes:
            return None, 'Contempt (num_classes=7)'
        return label, ''

    def _drop(self, reason: str):
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def load_native_list(self) -> List[dict]:
        require_dir(self.data_root, 'FERPlus data_root',
                    'set data_root to the folder holding fer2013.csv and fer2013new.csv '
                    "(source='csv') or FER2013Train/ FER2013Valid/ FER2013Test/ (source='folder')")
        self.dropped = OrderedDict()
        if self.source == 'csv':
            data_list = self._load_csv()
        else:
            data_list = self._load_folder()
        if self.dropped:
            print_log(f'FERPlus [{self.source_description()}]: dropped '
                      f'{sum(self.dropped.values())} rows: ' +
                      ', '.join(f'{k}: {v}' for k, v in self.dropped.items()), logger='current')
        return data_list

    # ----------------------------------------------------------------------------------------
    def _load_csv(self) -> List[dict]:
        usage = FERPLUS_SPLITS[self.split][0]
        names = Counter()
        data_list = []
        for row in iter_fer_csv_pair(self.fer2013_file, self.ann_file):
            if row.name:
                names[row.name] += 1
            if row.usage != usage:
                continue
            if not row.name:
                self._drop('no Image name')
                continue
            votes = parse_votes(row.vote_fields, self.ann_file, row.ferplus_line)
            label, reason = self._label(votes)
            if label is None:
                self._drop(reason)
                continue
            img = parse_fer_pixels(row.pixels, self.fer2013_file, row.fer2013_line,
                                   self.IMAGE_SIZE)
            data_list.append(dict(img=img, img_path=f'{self.fer2013_file}#row{row.index}',
                                  img_name=row.name, gt_label=label, votes=votes))
        self.duplicate_names = {n: c for n, c in sorted(names.items()) if c > 1}
        if self.duplicate_names:
            print_log(f'FERPlus: {len(self.duplicate_names)} image names occur more than once in '
                      f'{self.ann_file} ({", ".join(self.duplicate_names)}); the CSV reader keys '
                      'samples by row, so each row stays a separate sample', logger='current')
        return data_list

    # ----------------------------------------------------------------------------------------
    def _load_folder(self) -> List[dict]:
        folder = osp.dirname(self.ann_file)
        require_dir(folder, 'FERPlus split folder',
                    'generate FER2013Train/Valid/Test with tools/dataset_converters/'
                    'ferplus_to_folder.py or the FER+ generator')
        require_file(self.ann_file, 'FERPlus label file', f'expected {self.label_file} in '
                     f'{folder}, or set label_file')
        expected = 'name,"(x, y, w, h)",v1,…,v10 or name,v1,…,v10 (10 vote counts)'
        index = FileIndex()
        data_list = []
        with open(self.ann_file, newline='', encoding='utf-8') as f:
            reader = csv.reader(f)
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) == 12:  # flavour with the face-box column
                    name, fields = row[0], row[2:]
                elif len(row) == 11:
                    name, fields = row[0], row[1:]
                else:
                    raise FERDataError(format_error(self.ann_file, line,
                                                    f'{len(row)} columns', expected))
                votes = parse_votes(fields, self.ann_file, line, expected)
                label, reason = self._label(votes)
                if label is None:
                    self._drop(reason)
                    continue
                img_path = osp.join(folder, name.strip())
                self.check_image(index, img_path, self.ann_file, line)
                data_list.append(dict(img_path=img_path, img_name=name.strip(), gt_label=label,
                                      votes=votes))
        return data_list
