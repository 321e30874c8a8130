"""A training set plus the samples of chosen classes taken from other datasets.

The QCS paper trains on AffectNet with the Fear, Disgust (and, for 8 classes, Contempt) images of
RAF-DB and FERPlus added, to soften AffectNet's imbalance (specs/qcs.md §10, option
``extra_minority_sources``, off in the official code and in mmfer's configs). This wrapper does
that for any datasets: every source is read with its own reader and class order, its samples
whose class (by canonical name) is in ``classes_to_add`` are kept, and their labels are
remapped by name into the main dataset's order. Each sample runs through the pipeline of the
dataset it comes from, so sources may need their own pipeline (resolution, colour).

Example (AffectNet-8 + RAF-DB / FERPlus minority classes)::

    dataset = dict(
        type='ExtraClassSamples',
        dataset=dict(type='AffectNet', data_root='data/affectnet', split='train',
                     num_classes=8, pipeline=train_pipeline),
        extra_sources=[
            dict(type='RAFDB', data_root='data/rafdb', split='train', pipeline=train_pipeline),
            dict(type='FERPlus', data_root='data/ferplus', split='Training',
                 pipeline=train_pipeline),
        ],
        classes_to_add=('Fear', 'Disgust', 'Contempt'))
"""
from collections import OrderedDict
from typing import Dict, List, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.logging import print_log

from mmfer.registry import DATASETS
from .base import LabelWrapperMixin, build_dataset
from .class_maps import canonical_name

# what the wrapper calls on the main dataset and on every source
_NEEDS = ('get_gt_labels', 'get_data_info', 'full_init')


@DATASETS.register_module()
class ExtraClassSamples(LabelWrapperMixin):
    """``dataset`` followed by the ``classes_to_add`` samples of each of ``extra_sources``.

    Indices ``0 .. len(dataset) − 1`` are the main dataset's samples, unchanged; the rest are the
    kept source samples, source by source in their own order, with ``gt_label`` remapped into
    the main dataset's classes and ``source`` (the source's position) added to the sample.
    ``metainfo`` is the main dataset's.

    Args:
        dataset (BaseDataset | dict): the main (training) dataset.
        extra_sources (list[BaseDataset | dict]): datasets to take samples from.
        classes_to_add (sequence[str]): class names (any alias of :mod:`.class_maps`) to take
            from the sources; each must be a class of the main dataset. A source may lack some
            of them (RAF-DB has no Contempt); a source with none of them is an error.
        lazy_init (bool): defer loading until first use, like mmengine's wrappers.
    """

    def __init__(self, dataset: Union[BaseDataset, dict],
                 extra_sources: Sequence[Union[BaseDataset, dict]],
                 classes_to_add: Sequence[str] = ('Fear', 'Disgust'),
                 lazy_init: bool = False):
        self.dataset = build_dataset(dataset, 'ExtraClassSamples dataset', _NEEDS)
        if not extra_sources:
            raise ValueError('ExtraClassSamples: extra_sources is empty; give at least one '
                             'dataset to take samples from (or use the main dataset alone)')
        self.sources = [build_dataset(s, f'ExtraClassSamples extra_sources[{i}]', _NEEDS)
                        for i, s in enumerate(extra_sources)]
        self._metainfo = self.dataset.metainfo
        main = [canonical_name(c) for c in self._metainfo['classes']]
        wanted = [canonical_name(c) for c in classes_to_add]
        missing = [c for c, w in zip(classes_to_add, wanted) if w not in main]
        if missing:
            raise ValueError(f'ExtraClassSamples: classes_to_add {missing} are not classes of '
                             f'the main dataset {list(self._metainfo["classes"])}. Fix: list only '
                             f'its classes (e.g. no Contempt for 7-class AffectNet)')
        if not wanted:
            raise ValueError('ExtraClassSamples: classes_to_add is empty')
        self.classes_to_add = tuple(wanted)
        self._main_index = {c: i for i, c in enumerate(main)}
        self._maybe_init(lazy_init)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.dataset.full_init()
        labels = [np.asarray(self.dataset.get_gt_labels(), dtype=np.int64)]
        # (source index, index in that source) of every added sample
        self._refs: List[np.ndarray] = []
        self.added: Dict[str, Dict[str, int]] = OrderedDict()
        for k, src in enumerate(self.sources):
            src.full_init()
            names = [canonical_name(c) for c in src.metainfo['classes']]
            to_main = np.array([self._main_index.get(n, -1) if n in self.classes_to_add else -1
                                for n in names], dtype=np.int64)
            src_labels = np.asarray(src.get_gt_labels(), dtype=np.int64)
            keep = np.flatnonzero(to_main[src_labels] >= 0)
            if len(keep) == 0:
                raise ValueError(
                    f'ExtraClassSamples: extra_sources[{k}] ({type(src).__name__}, '
                    f'{len(src_labels)} samples, classes {list(src.metainfo["classes"])}) has no '
                    f'sample of classes_to_add {list(self.classes_to_add)}. Fix: check that '
                    'source\'s split and class names, or drop it from extra_sources')
            self._refs.append(np.stack([np.full(len(keep), k), keep], axis=1))
            mapped = to_main[src_labels[keep]]
            labels.append(mapped)
            self.added[f'{k}:{type(src).__name__}'] = OrderedDict(
                (c, int((mapped == self._main_index[c]).sum())) for c in self.classes_to_add)
        self._labels = np.concatenate(labels)
        self._refs = np.concatenate(self._refs, axis=0)
        self._num_main = len(labels[0])
        print_log(f'ExtraClassSamples: {len(self._labels) - self._num_main} samples added to '
                  f'{self._num_main} ({", ".join(f"{k} {dict(v)}" for k, v in self.added.items())})',
                  logger='current')
        self._fully_initialized = True

    def _locate(self, idx: int):
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f'ExtraClassSamples: index {idx} out of range ({len(self)} samples)')
        if idx < self._num_main:
            return None, idx
        k, j = self._refs[idx - self._num_main]
        return int(k), int(j)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        k, j = self._locate(idx)
        if k is None:
            return self.dataset.get_data_info(j)
        info = self.sources[k].get_data_info(j)
        info['gt_label'] = int(self._labels[idx])
        info['source'] = k
        return info

    @force_full_init
    def __getitem__(self, idx: int):
        k, _ = self._locate(idx)
        ds = self.dataset if k is None else self.sources[k]
        return ds.pipeline(self.get_data_info(idx))

    @force_full_init
    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        body = (f'{len(self)} samples: {self._num_main} main + added {dict(self.added)}'
                if self._fully_initialized else 'not loaded yet (lazy_init)')
        return f'ExtraClassSamples({type(self.dataset).__name__}, {body})'
