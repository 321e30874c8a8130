"""RAF-DB (basic emotions) reader (datasets.md §2)."""
import os.path as osp
from typing import List, Optional

from mmfer.registry import DATASETS
from .base import (BaseFERDataset, DuplicateCheck, FERDataError, FileIndex, format_error,
                   require_dir, require_file)
from .class_maps import CLASS_ORDERS, ClassSpec

RAFDB_ANN_FILE = 'EmoLabel/list_patition_label.txt'


@DATASETS.register_module()
class RAFDB(BaseFERDataset):
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` + ``Image/{aligned,original}/``.

    Each annotation line is ``<name> <label>`` with labels 1..7 in the order Surprise, Fear,
    Disgust, Happiness, Sadness, Anger, Neutral; the sample label is ``label − 1``. Names starting
    with ``train`` form the train split (12,271 in the release), ``test`` the test split (3,068).
    The image of ``train_00001.jpg`` is ``Image/aligned/train_00001_aligned.jpg``
    (``image_set='aligned'``) or ``Image/original/train_00001.jpg`` (``'original'``).

    The same name on two lines with different labels raises, naming both lines; with the same
    label both lines are kept (as the official reader does) and a WARNING names them
    (:class:`~mmfer.datasets.base.DuplicateCheck`).

    Samples: ``dict(img_path, gt_label, img_name)``; ``img_name`` is the annotation name
    (the key :class:`LabelNoiseDataset` matches noisy-label files on).

    Args:
        data_root (str): the release's ``basic`` folder.
        split (str): ``'train'`` or ``'test'``.
        image_set (str): ``'aligned'`` (default) or ``'original'``.
        ann_file (str): annotation file, relative to ``data_root``. The EAC noisy-label files
            (``noise01.txt`` ..., train rows only, same format) go here for training.
        data_prefix (str): image folder, default ``Image/<image_set>``.
        classes: output class order (default RAF-DB's own), see :class:`BaseFERDataset`.
    """

    METAINFO = dict(classes=CLASS_ORDERS['rafdb'])
    SPLITS = ('train', 'test')
    IMAGE_SETS = ('aligned', 'original')

    def __init__(self, data_root: str, split: str = 'train', image_set: str = 'aligned',
                 ann_file: str = RAFDB_ANN_FILE, data_prefix: Optional[str] = None,
                 classes: Optional[ClassSpec] = None, **kwargs):
        if split not in self.SPLITS:
            raise ValueError(f'RAFDB: split={split!r}; use one of {self.SPLITS} '
                             '(RAF-DB has no validation split; papers report on test)')
        if image_set not in self.IMAGE_SETS:
            raise ValueError(f'RAFDB: image_set={image_set!r}; use one of {self.IMAGE_SETS}')
        self.split = split
        self.image_set = image_set
        if data_prefix is None:
            data_prefix = f'Image/{image_set}'
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         classes=classes, **kwargs)

    def source_description(self) -> str:
        return f'split {self.split!r} of {self.ann_file}'

    def image_path(self, name: str) -> str:
        """Image path of an annotation name such as ``train_00001.jpg``."""
        if self.image_set == 'aligned':
            name = f'{osp.splitext(name)[0]}_aligned.jpg'
        return osp.join(self.img_prefix, name)

    def load_native_list(self) -> List[dict]:
        require_dir(self.data_root, 'RAF-DB data_root',
                    "set data_root to the release's 'basic' folder (holding EmoLabel/ and Image/)")
        require_file(self.ann_file, 'RAF-DB annotation file',
                     f'expected {RAFDB_ANN_FILE} under data_root, or set ann_file')
        require_dir(self.img_prefix, 'RAF-DB image folder',
                    "set image_set ('aligned' | 'original') or data_prefix to the image folder")
        expected = "'<name> <label>' with name train_*.jpg / test_*.jpg and label 1..7"
        index = FileIndex()
        duplicates = DuplicateCheck(self.ann_file, 'RAFDB')
        data_list = []
        with open(self.ann_file, encoding='utf-8') as f:
            for line_no, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise FERDataError(format_error(self.ann_file, line_no,
                                                    f'malformed line {line.rstrip()!r}', expected))
                name, label = parts
                if not label.isdigit() or not 1 <= int(label) <= 7:
                    raise FERDataError(format_error(
                        self.ann_file, line_no, f'unknown label {label!r}', expected,
                        'RAF-DB labels are 1-based; 0-based lists belong to FERListDataset'))
                if name.startswith('train'):
                    split = 'train'
                elif name.startswith('test'):
                    split = 'test'
                else:
                    raise FERDataError(format_error(self.ann_file, line_no,
                                                    f'name {name!r} starts with neither train '
                                                    'nor test', expected))
                # over the whole file, both splits: a contradicting file is wrong for either
                duplicates.add(name, int(label), line_no)
                if split != self.split:
                    continue
                img_path = self.image_path(name)
                self.check_image(index, img_path, self.ann_file, line_no,
                                 "check image_set ('aligned' expects <stem>_aligned.jpg)")
                data_list.append(dict(img_path=img_path, gt_label=int(label) - 1, img_name=name))
        duplicates.report()
        return data_list
