"""Common base of the FER dataset readers: class-order remapping, summaries, errors.

Built on mmpretrain's :class:`~mmpretrain.datasets.BaseDataset` (metainfo, ``get_gt_labels``,
``get_cat_ids``, lazy init, serialisation, subsets), which mmfer does not re-implement. What this
module adds:

- a reader parses its format into samples whose ``gt_label`` is in the dataset's **native** order
  (``native_classes()``); the base then remaps every label by name into the order requested with
  ``classes=`` (a preset such as ``'rafdb'`` or a list of names, see :mod:`.class_maps`). The
  vector used is ``label_map[i] = classes.index(native_classes[i])``;
- ``metainfo['classes']`` is the order the labels are in, ``metainfo['native_classes']`` the file's;
- after loading, the number of samples per class is logged and :meth:`class_counts` returns it;
- helpers that raise errors naming the file, the line and the fix, and :class:`DuplicateCheck`
  (an image listed twice: an error with both lines when the labels differ, a warning when equal).
"""
import copy
import logging
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset

from mmfer.registry import DATASETS
from .class_maps import ClassSpec, is_identity, resolve_classes


class FERDataError(ValueError):
    """An annotation or image that does not follow the documented format."""


def format_error(path: str, line: Optional[int], problem: str, expected: str = '',
                 fix: str = '') -> str:
    """Message of the form ``<file>, line <n>: <problem>. Expected: ... Fix: ...``."""
    where = f'{path}, line {line}' if line is not None else f'{path}'
    msg = f'{where}: {problem}'
    if expected:
        msg += f'. Expected: {expected}'
    if fix:
        msg += f'. Fix: {fix}'
    return msg


def require_dir(path: str, what: str, fix: str) -> None:
    """Raise ``FileNotFoundError`` naming ``path`` when it is not a directory."""
    if not osp.isdir(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist or is not a folder. Fix: {fix}')


def require_file(path: str, what: str, fix: str) -> None:
    """Raise ``FileNotFoundError`` naming ``path`` when it is not a file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist. Fix: {fix}')


class FileIndex:
    """File-existence checks through one cached listing per folder.

    Listing a folder of 15k images once is much cheaper than 15k ``stat`` calls, which matters
    for AffectNet's 287k rows. Names are compared exactly (case-sensitive), as the loader will
    open them.
    """

    def __init__(self):
        self._listings: Dict[str, frozenset] = {}

    def exists(self, path: str) -> bool:
        folder, name = osp.split(path)
        if folder not in self._listings:
            self._listings[folder] = frozenset(os.listdir(folder)) if osp.isdir(folder) \
                else frozenset()
        return name in self._listings[folder]


class DuplicateCheck:
    """Finds images listed more than once in one annotation file.

    Feed every parsed line with :meth:`add` (``key`` = the image name or path as listed, a
    normalised path for list files). Policy:

    - the same image with a **different** label raises :class:`FERDataError` at once, naming
      the file, both line numbers and both labels (the file contradicts itself; which label is
      right cannot be guessed);
    - the same image with the **same** label is kept as listed (one sample per line, as the
      official readers do, and as a list file that repeats lines to oversample a class
      intends); :meth:`report` logs one WARNING with the number of repeats and the first
      examples with both line numbers, so a repeat is never silent.

    Args:
        path (str): the annotation file, for messages.
        owner (str): the reader's name, for messages.
    """

    MAX_EXAMPLES = 5

    def __init__(self, path: str, owner: str):
        self.path = path
        self.owner = owner
        self._first: Dict[str, Tuple[int, object]] = {}
        self.repeats: List[Tuple[str, int, int]] = []  # (key, first line, repeated line)

    def add(self, key: str, label, line: int) -> None:
        """Record that ``line`` lists ``key`` with ``label``; raise on a contradicting label."""
        prev = self._first.get(key)
        if prev is None:
            self._first[key] = (line, label)
            return
        first_line, first_label = prev
        if first_label != label:
            raise FERDataError(
                f'{self.path}, lines {first_line} and {line}: {self.owner}: image {key!r} is '
                f'listed twice with different labels ({first_label} on line {first_line}, '
                f'{label} on line {line}). Fix: keep one line per image, with its correct label')
        self.repeats.append((key, first_line, line))

    def report(self) -> None:
        """Log one WARNING when an image was listed more than once with the same label."""
        if not self.repeats:
            return
        examples = '; '.join(f'{k!r} on lines {a} and {b}'
                             for k, a, b in self.repeats[:self.MAX_EXAMPLES])
        more = len(self.repeats) - self.MAX_EXAMPLES
        print_log(f'{self.owner}: {self.path}: {len(self.repeats)} repeated line(s) list an image '
                  f'already listed with the same label ({examples}'
                  f'{f"; and {more} more" if more > 0 else ""}); each line is kept as a sample, '
                  'so these images count more than once. Fix: delete the repeated lines unless '
                  'the repetition is intended (oversampling)', logger='current',
                  level=logging.WARNING)


class BaseFERDataset(BaseDataset):
    """Base class of the FER readers (see the module docstring).

    Subclasses set their own attributes, then call ``super().__init__`` and implement
    :meth:`load_native_list` (samples with native-order ``gt_label``) and optionally
    :meth:`native_classes` (when the native order depends on an option, e.g. ``num_classes``).

    Args:
        ann_file (str): annotation file (joined to ``data_root`` by mmengine when relative).
        classes (str | Sequence[str], optional): class order of the output labels, by name or
            preset (``'rafdb'``, ``'affectnet'``, ``'ferplus7'`` ...). Default: the native order.
            Every native class must exist in it; extra classes simply get no samples.
        metainfo (dict, optional): extra meta information; ``metainfo['classes']`` is accepted as
            an alternative spelling of ``classes``.
        check_files (bool): check that every listed image exists while loading the annotation
            (one folder listing per folder). Default True.
        **kwargs: passed to mmpretrain's ``BaseDataset`` (``data_root``, ``data_prefix``,
            ``pipeline``, ``test_mode``, ``lazy_init``, ``indices`` ...).
    """

    METAINFO: dict = dict(classes=())
    #: map class names through the alias table (unknown names raise); readers whose classes may
    #: be arbitrary names set False.
    CANONICAL_NAMES = True

    def __init__(self, ann_file: str = '', classes: Optional[ClassSpec] = None,
                 metainfo: Optional[dict] = None, check_files: bool = True, **kwargs):
        self.check_files = check_files
        native = tuple(self.native_classes())
        metainfo = dict(metainfo or {})
        if classes is None:
            classes = metainfo.pop('classes', None)
        target = native if classes is None else resolve_classes(classes, self.CANONICAL_NAMES)
        missing = [n for n in native if n not in target]
        if missing:
            raise ValueError(
                f'{type(self).__name__}: classes={list(target)} lacks {missing}, which this '
                f'dataset contains (native order {list(native)}). Fix: add them to `classes`, '
                'or drop them at the source (e.g. num_classes=7 drops Contempt)')
        self.label_map: Tuple[int, ...] = tuple(target.index(n) for n in native)
        metainfo['classes'] = target
        metainfo['native_classes'] = native
        super().__init__(ann_file=ann_file, metainfo=metainfo, **kwargs)

    # ----------------------------------------------------------------------------------------
    # To implement in readers.
    def native_classes(self) -> Sequence[str]:
        """Class names in the order of the labels the reader produces."""
        return self.METAINFO['classes']

    def load_native_list(self) -> List[dict]:
        """Parse the annotation into ``dict(img_path=..., gt_label=<native index>, ...)``."""
        raise NotImplementedError

    def source_description(self) -> str:
        """Short text naming what was read (split and file), for logs and errors."""
        return str(self.ann_file)

    # ----------------------------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        data_list = self.load_native_list()
        if not data_list:
            raise FERDataError(
                f'{type(self).__name__}: no samples in {self.source_description()}. Fix: check '
                'data_root, the split name and the annotation file')
        if not is_identity(self.label_map):
            for info in data_list:
                info['gt_label'] = self.label_map[info['gt_label']]
        return data_list

    def full_init(self):
        if self._fully_initialized:
            return
        super().full_init()
        counts = self.class_counts()
        print_log(f'{type(self).__name__} [{self.source_description()}]: {len(self)} samples; '
                  'per class: ' + ', '.join(f'{k} {v}' for k, v in counts.items()),
                  logger='current')

    def class_counts(self) -> Dict[str, int]:
        """Number of samples per class, in class order: ``{name: count}`` (zeros included)."""
        classes = self.metainfo['classes']
        labels = np.asarray(self.get_gt_labels(), dtype=np.int64)
        counts = np.bincount(labels, minlength=len(classes)) if labels.size \
            else np.zeros(len(classes), dtype=np.int64)
        return OrderedDict((name, int(c)) for name, c in zip(classes, counts))

    def extra_repr(self) -> List[str]:
        return [f'Source: \t{self.source_description()}',
                f'Classes: \t{list(self.metainfo["classes"])}']

    # ----------------------------------------------------------------------------------------
    # Helpers for readers.
    def check_image(self, index: FileIndex, img_path: str, ann_path: str,
                    line: Optional[int], fix: str = '') -> None:
        """Raise ``FileNotFoundError`` naming the annotation line when ``img_path`` is missing."""
        if self.check_files and not index.exists(img_path):
            raise FileNotFoundError(format_error(
                ann_path, line, f'image {img_path!r} does not exist',
                fix=fix or 'check data_root / data_prefix, or restore the image'))


def build_dataset(dataset, owner: str, required: Sequence[str] = ('get_gt_labels', )):
    """A dataset wrapper's inner dataset: built from its config when a dict, then checked to
    provide the ``required`` methods (raising ``TypeError`` naming ``owner`` otherwise)."""
    if isinstance(dataset, dict):
        dataset = DATASETS.build(dataset)
    for attr in required:
        if not hasattr(dataset, attr):
            raise TypeError(f'{owner}: {type(dataset).__name__} has no {attr}(); wrap an '
                            'mmpretrain/mmfer dataset (or give its config)')
    return dataset


class LabelWrapperMixin:
    """Shared parts of mmfer's dataset wrappers that give the wrapped samples new labels
    (:class:`~mmfer.datasets.LabelNoiseDataset`, :class:`~mmfer.datasets.ExtraClassSamples`).

    The wrapper sets ``self.dataset`` (the wrapped dataset), ``self._metainfo`` and, in its
    ``full_init``, ``self._labels`` (one label per sample of the wrapper); this mixin provides
    ``metainfo``, ``pipeline``, ``get_gt_labels`` and ``get_cat_ids`` from them, and
    ``_maybe_init`` for the ``lazy_init`` argument.
    """

    def _maybe_init(self, lazy_init: bool) -> None:
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    @property
    def pipeline(self):
        return self.dataset.pipeline

    def get_gt_labels(self) -> np.ndarray:
        if not self._fully_initialized:
            self.full_init()
        return self._labels.copy()

    def get_cat_ids(self, idx: int) -> List[int]:
        if not self._fully_initialized:
            self.full_init()
        return [int(self._labels[idx])]
