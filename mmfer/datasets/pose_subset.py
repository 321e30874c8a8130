"""Pose subsets (Pose-RAF-DB, Pose-FERPlus, Pose-AffectNet > 30° / > 45°) as a filter of the
parent dataset by file name (specs/datasets.md §7; used by LAN, specs/lan.md §1.4).

The public RAN lists (kaiwang960112/Challenge-condition-FER-dataset) hold one
``<d>/<name>`` per line, ``<d>`` a class digit of the list author's own image tree:

- RAF-DB ``<d>/test_NNNN_aligned.jpg`` → key ``test_NNNN``;
- FERPlus ``<d>/ferNNNNNNN.jpg`` → key ``ferNNNNNNN`` (the images are PNG; only stems count);
- AffectNet ``<d>/<56-hex>.jpg`` (> 30°) or ``<d>/<56-hex>/8.jpg`` (> 45°, a crop index of the
  author's tree) → key ``<56-hex>``.

The key of a parent sample is the stem of its ``img_path`` with a trailing ``_aligned`` removed.
``label_source='parent'`` (default): labels come from the parent's annotation; the list digits
are only compared with them through ``list_classes`` (agreement rate logged).
``label_source='list'``: the digits are the labels, read in ``list_classes`` order and remapped
by name into the parent's classes.

The number of lines, of matched images and, when ``expected_size`` is given, the difference to
the size stated in the papers are logged (four public lists are one line short of the papers'
counts: they are reported, never padded). A list name the parent does not have raises with the
line number, or is reported and excluded with ``on_missing='report'``.
"""
import os.path as osp
import re
from collections import Counter, OrderedDict
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.logging import print_log

from mmfer.registry import DATASETS
from .base import FERDataError, LabelWrapperMixin, build_dataset, format_error
from .class_maps import CLASS_ORDERS, canonical_name

_DIGITS = re.compile(r'^\d+$')


def image_key(path: str) -> str:
    """The matching key of an image path: its stem without ``_aligned``; a purely numeric
    stem (AffectNet's ``<hex>/8.jpg``) takes its folder name instead."""
    parts = [p for p in re.split(r'[\\/]', path.strip()) if p]
    stem = osp.splitext(parts[-1])[0]
    if _DIGITS.match(stem) and len(parts) > 1 and not _DIGITS.match(parts[-2]):
        stem = parts[-2]
    return stem[:-len('_aligned')] if stem.endswith('_aligned') else stem


def read_pose_list(path: str) -> List[tuple]:
    """``[(line number, key, digit or None)]`` of a RAN pose list (blank lines skipped)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'pose list {path} does not exist. Fix: download the RAN lists '
                                '(kaiwang960112/Challenge-condition-FER-dataset) and set '
                                'list_file (docs/lan.md, pose subsets)')
    out = []
    with open(path, encoding='utf-8-sig') as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = [p for p in re.split(r'[\\/]', line.split()[0]) if p]
            digit = int(parts[0]) if len(parts) > 1 and _DIGITS.match(parts[0]) else None
            out.append((i, image_key(line.split()[0]), digit))
    if not out:
        raise FERDataError(format_error(path, None, 'the pose list is empty',
                                        fix='give the list file of the subset'))
    return out


@DATASETS.register_module()
class PoseSubset(LabelWrapperMixin):
    """The samples of ``dataset`` whose file names are in ``list_file``, in list order.

    Args:
        dataset (BaseDataset | dict): the parent split (RAF-DB test, FERPlus PrivateTest,
            AffectNet validation).
        list_file (str): the RAN list.
        label_source (str): ``'parent'`` (default) or ``'list'``.
        list_classes (sequence[str] | str, optional): class names of the list digits 0, 1,
            ... or a name of ``CLASS_ORDERS`` (``'rafdb'``, ``'affectnet8'``, ``'ferplus8'``)
            (needed for ``'list'``; with ``'parent'`` the agreement of the digits is logged).
        on_missing (str): ``'raise'`` (default) or ``'report'`` (log and exclude) for a list
            name the parent lacks.
        expected_size (int, optional): the size stated in the papers, for the report.
        lazy_init (bool): defer loading until first use.
    """

    def __init__(self, dataset: Union[BaseDataset, dict], list_file: str,
                 label_source: str = 'parent', list_classes: Optional[Sequence[str]] = None,
                 on_missing: str = 'raise', expected_size: Optional[int] = None,
                 lazy_init: bool = False):
        if label_source not in ('parent', 'list'):
            raise ValueError(f"PoseSubset: label_source={label_source!r}; use 'parent' or "
                             "'list'")
        if on_missing not in ('raise', 'report'):
            raise ValueError(f"PoseSubset: on_missing={on_missing!r}; use 'raise' or 'report'")
        if label_source == 'list' and not list_classes:
            raise ValueError("PoseSubset: label_source='list' needs list_classes (the class "
                             'names of the digits 0, 1, ... of the list); the digit order of '
                             'the RAN lists is not documented (datasets.md §7)')
        self.dataset = build_dataset(dataset, 'PoseSubset dataset',
                                     ('get_gt_labels', 'get_data_info', 'full_init'))
        self.list_file = list_file
        self.label_source = label_source
        if isinstance(list_classes, str):  # a name of CLASS_ORDERS, e.g. 'rafdb'
            if list_classes not in CLASS_ORDERS:
                raise ValueError(f'PoseSubset: list_classes={list_classes!r} is not one of '
                                 f'{sorted(CLASS_ORDERS)}; or give the class names')
            list_classes = CLASS_ORDERS[list_classes]
        self.list_classes = None if list_classes is None else [canonical_name(c)
                                                               for c in list_classes]
        self.on_missing = on_missing
        self.expected_size = expected_size
        self._metainfo = self.dataset.metainfo
        self._maybe_init(lazy_init)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.dataset.full_init()
        entries = read_pose_list(self.list_file)
        index = {}
        for j in range(len(self.dataset)):
            info = self.dataset.get_data_info(j)
            index.setdefault(image_key(info['img_path']), j)
        parent_labels = np.asarray(self.dataset.get_gt_labels(), np.int64)
        names = [canonical_name(c) for c in self._metainfo['classes']]
        keep, labels, missing, agree, compared = [], [], [], 0, 0
        seen = set()
        for line, key, digit in entries:
            j = index.get(key)
            if j is None:
                if self.on_missing == 'raise':
                    raise FERDataError(format_error(
                        self.list_file, line, f'{key!r} is not an image of the parent dataset '
                        f'({type(self.dataset).__name__}, {len(self.dataset)} samples)',
                        fix="check that the parent is the right split (RAF-DB test, FERPlus "
                        "PrivateTest, AffectNet validation), or on_missing='report'"))
                missing.append(key)
                continue
            if key in seen:
                raise FERDataError(format_error(self.list_file, line,
                                                f'{key!r} is listed twice',
                                                fix='remove the duplicate line'))
            seen.add(key)
            lab = int(parent_labels[j])
            if digit is not None and self.list_classes is not None:
                if digit >= len(self.list_classes):
                    raise FERDataError(format_error(
                        self.list_file, line, f'class digit {digit} is outside list_classes '
                        f'{self.list_classes}', fix='give the full class order of the list'))
                name = self.list_classes[digit]
                compared += 1
                agree += int(name in names and names.index(name) == lab)
                if self.label_source == 'list':
                    if name not in names:
                        raise FERDataError(format_error(
                            self.list_file, line, f'class {name} is not a class of the parent '
                            f'{names}', fix='check list_classes'))
                    lab = names.index(name)
            keep.append(j)
            labels.append(lab)
        self._indices = np.asarray(keep, np.int64)
        self._labels = np.asarray(labels, np.int64)
        self.num_lines = len(entries)
        self.missing = missing
        self.agreement = agree / compared if compared else None
        counts = Counter(self._labels.tolist())
        self.counts = OrderedDict((c, counts.get(i, 0)) for i, c in enumerate(names))
        msg = (f'PoseSubset {osp.basename(self.list_file)}: {self.num_lines} lines, '
               f'{len(self._labels)} images of {type(self.dataset).__name__} kept')
        if missing:
            msg += f', {len(missing)} not found and excluded (first: {missing[:3]})'
        if self.expected_size is not None:
            diff = len(self._labels) - self.expected_size
            msg += (f'; the paper states {self.expected_size}'
                    + (f' ({diff:+d}, reported, not padded)' if diff else ' (equal)'))
        if self.agreement is not None:
            msg += f'; list digits agree with the parent labels on {100 * self.agreement:.1f} %'
        msg += f'; per class {dict(self.counts)}'
        self.report = msg
        print_log(msg, logger='current')
        self._fully_initialized = True

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        info = self.dataset.get_data_info(int(self._indices[idx]))
        info['gt_label'] = int(self._labels[idx])
        info['sample_idx'] = idx
        return info

    @force_full_init
    def __getitem__(self, idx: int):
        return self.dataset.pipeline(self.get_data_info(idx))

    @force_full_init
    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        body = (f'{len(self)} of {len(self.dataset)} samples' if self._fully_initialized
                else 'not loaded yet (lazy_init)')
        return f'PoseSubset({type(self.dataset).__name__}, {self.list_file}, {body})'
