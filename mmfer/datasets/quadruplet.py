"""Pair / quadruplet sampling of DCS / QCS (spec ``qcs.md`` §4) as a dataset wrapper.

The anchor is the item the sampler asks for; the partners are drawn when the item is fetched:

======================  ==========================  ==========================  =================
branch                  DCS                         QCS ``negative_mode=        QCS ``negative_mode=
                                                    'frequency'`` (RAF-DB,      'balanced'``
                                                    FERPlus)                    (AffectNet)
======================  ==========================  ==========================  =================
p (class y)             uniform over class y minus the anchor (all modes)
y′                      —                           class of n                  uniform over the
                                                    (so ∝ class frequency)      other classes
n                       —                           uniform over all images of  uniform over y′
                                                    the other classes
n2                      —                           uniform over y′ minus n     same
======================  ==========================  ==========================  =================

Per-class index lists are built once from the wrapped dataset's ``get_gt_labels()``; a draw is
O(1). The draws of item ``idx`` come from a generator seeded by ``(seed, epoch, idx)`` only, so
they are reproducible and identical whatever the number of ranks or workers (anchors are sharded
by the sampler — mmengine's ``DefaultSampler`` or ``ClassBalancedSampler``; auxiliary images come
from the whole training set). Every image — anchor and partners — goes through the wrapped
dataset's full pipeline, so each gets its own independent augmentation.

The epoch lives in a shared-memory tensor: ``set_epoch`` (called by ``DatasetEpochHook`` before
each training epoch) is seen by dataloader workers, persistent ones included.

A class with fewer than 2 images cannot give a distinct partner: the image itself is used and a
warning naming the class is logged once (spec choice).
"""
import copy
from typing import Dict, List, Optional, Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmpretrain.structures import DataSample

from mmfer.registry import DATASETS
from .base import build_dataset

NEGATIVE_MODES = ('frequency', 'balanced')


@DATASETS.register_module()
class QuadrupletDataset:
    """Wrap a FER dataset so that item ``idx`` returns the anchor plus its partners.

    Returns ``dict(inputs=V×3×H×W, data_samples=DataSample)`` with the views in branch order
    (a, p) for ``num_branches=2`` and (a, p, n, n2) for 4. The data sample is the anchor's
    (``gt_label`` = y) with, for QCS, the data field ``neg_label`` (1-element long tensor, y′),
    and the metainfo ``aux_indices`` (the dataset indices of p[, n, n2]) for debugging.

    Args:
        dataset (dict | Dataset): the wrapped dataset (config or object). Its pipeline must end
            with ``PackInputs`` and it must provide ``get_gt_labels()``.
        num_branches (int): 4 (QCS) or 2 (DCS).
        negative_mode (str): ``'frequency'`` (n from all images of the other classes, so y′ is
            frequency-weighted: QCS RAF-DB/FERPlus) or ``'balanced'`` (y′ uniform over the other
            classes with images: QCS AffectNet). Unused for 2 branches.
        seed (int): seed of the partner draws (with the epoch and the index).
        lazy_init (bool): defer :meth:`full_init` (as mmengine datasets).
    """

    def __init__(self, dataset: Union[dict, object], num_branches: int = 4,
                 negative_mode: str = 'frequency', seed: int = 0, lazy_init: bool = False):
        if num_branches not in (2, 4):
            raise ValueError(f'QuadrupletDataset: num_branches must be 4 (QCS) or 2 (DCS), got '
                             f'{num_branches}')
        if negative_mode not in NEGATIVE_MODES:
            raise ValueError(f'QuadrupletDataset: negative_mode={negative_mode!r} is not one of '
                             f'{list(NEGATIVE_MODES)}')
        self.dataset = build_dataset(dataset, 'QuadrupletDataset')
        self.num_branches = num_branches
        self.negative_mode = negative_mode
        self.seed = int(seed)
        # shared memory: dataloader workers (forked or spawned, persistent or not) see set_epoch
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._warned = set()
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    # ------------------------------------------------------------------------------------------
    # dataset protocol
    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Initialise the wrapped dataset and build the per-class index lists (once)."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        labels = np.asarray(self.dataset.get_gt_labels(), dtype=np.int64)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError('QuadrupletDataset: the wrapped dataset has no single-label samples '
                             f'(get_gt_labels() gave shape {labels.shape})')
        if labels.min() < 0:
            raise ValueError('QuadrupletDataset: negative labels in the wrapped dataset')
        self.labels = labels
        self.counts = np.bincount(labels)
        # indices sorted by class; class c occupies order[starts[c]:starts[c] + counts[c]]
        self.order = np.argsort(labels, kind='stable')
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.pos_in_class = np.empty_like(self.order)
        self.pos_in_class[self.order] = np.arange(labels.size) - self.starts[labels[self.order]]
        self.present = np.flatnonzero(self.counts)
        if self.num_branches == 4 and self.present.size < 2:
            raise ValueError('QuadrupletDataset: QCS needs images of at least two classes to draw '
                             f'negatives; the dataset only has class {self.present.tolist()}')
        self._fully_initialized = True

    def __len__(self) -> int:
        return len(self.dataset)

    def get_gt_labels(self) -> np.ndarray:
        """Labels of the anchors (the wrapped dataset's), for samplers and summaries."""
        self.full_init()
        return self.labels.copy()

    def get_cat_ids(self, idx: int) -> List[int]:
        self.full_init()
        return [int(self.labels[idx])]

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    # ------------------------------------------------------------------------------------------
    # epochs
    def set_epoch(self, epoch: int) -> None:
        """Use the partner draws of ``epoch`` (visible to dataloader workers)."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    # ------------------------------------------------------------------------------------------
    # draws
    def _class_name(self, c: int) -> str:
        classes = self.dataset.metainfo.get('classes') or ()
        return f'{c} ({classes[c]})' if c < len(classes) else str(c)

    def _other_in_class(self, rng: np.random.Generator, idx: int) -> int:
        """Uniform over the images of idx's class other than idx (idx itself if it is alone)."""
        c = self.labels[idx]
        k = self.counts[c]
        if k < 2:
            if c not in self._warned:
                self._warned.add(c)
                print_log(f'QuadrupletDataset: class {self._class_name(c)} has {k} image; its '
                          'partner is the image itself', logger='current', level=30)
            return int(idx)
        j = int(rng.integers(k - 1))
        if j >= self.pos_in_class[idx]:
            j += 1
        return int(self.order[self.starts[c] + j])

    def draw(self, idx: int, epoch: Optional[int] = None) -> Dict[str, int]:
        """The partners of anchor ``idx``: ``dict(p=...)`` (DCS) or
        ``dict(p=..., neg_label=y′, n=..., n2=...)`` (QCS). A pure function of (seed, epoch, idx).
        """
        self.full_init()
        idx = int(idx)
        if not 0 <= idx < self.labels.size:
            raise IndexError(f'QuadrupletDataset: index {idx} out of range [0, {self.labels.size})')
        epoch = self.epoch if epoch is None else int(epoch)
        rng = np.random.default_rng([self.seed, epoch, idx])
        out = dict(p=self._other_in_class(rng, idx))
        if self.num_branches == 2:
            return out
        y = self.labels[idx]
        if self.negative_mode == 'frequency':
            # uniform position among all images of the other classes, skipping class y's block
            r = int(rng.integers(self.labels.size - self.counts[y]))
            if r >= self.starts[y]:
                r += int(self.counts[y])
            n = int(self.order[r])
        else:
            others = self.present[self.present != y]
            c = int(others[rng.integers(others.size)])
            n = int(self.order[self.starts[c] + rng.integers(self.counts[c])])
        out.update(neg_label=int(self.labels[n]), n=n, n2=self._other_in_class(rng, n))
        return out

    # ------------------------------------------------------------------------------------------
    def _fetch(self, j: int, expected: int) -> dict:
        item = self.dataset[j]
        if not isinstance(item, dict) or not isinstance(item.get('inputs'), torch.Tensor) \
                or item['inputs'].dim() != 3:
            raise TypeError('QuadrupletDataset: the wrapped pipeline must end with PackInputs '
                            '(a 3×H×W "inputs" tensor per image); got '
                            f'{type(item).__name__} for index {j}')
        got = int(item['data_samples'].gt_label.item())
        if got != expected:
            # mmengine's BaseDataset re-draws a random index when a pipeline returns None
            raise RuntimeError(f'QuadrupletDataset: index {j} returned label {got}, expected '
                               f'{expected}; the wrapped pipeline returned None and the dataset '
                               'substituted another image. Fix the failing transform or sample.')
        return item

    def __getitem__(self, idx: int) -> dict:
        d = self.draw(idx)
        indices = [int(idx), d['p']] + ([d['n'], d['n2']] if self.num_branches == 4 else [])
        items = [self._fetch(j, int(self.labels[j])) for j in indices]
        shapes = {tuple(it['inputs'].shape) for it in items}
        if len(shapes) != 1:
            raise ValueError(f'QuadrupletDataset: the views of item {idx} have different shapes '
                             f'{sorted(shapes)}; the pipeline must produce a fixed size '
                             '(e.g. Resize/RandomCrop to 224)')
        sample: DataSample = items[0]['data_samples']
        if self.num_branches == 4:
            sample.set_field(torch.tensor([d['neg_label']], dtype=torch.long), 'neg_label')
        sample.set_metainfo(dict(aux_indices=tuple(indices[1:])))
        return dict(inputs=torch.stack([it['inputs'] for it in items]), data_samples=sample)

    def __repr__(self) -> str:
        return (f'QuadrupletDataset(num_branches={self.num_branches}, negative_mode='
                f'{self.negative_mode!r}, seed={self.seed}, dataset={type(self.dataset).__name__}'
                f', len={len(self)})')
