"""Class-balanced sampler: weights 1/count(class), drawn with replacement (datasets.md §3)."""
import math
import numbers
from typing import Iterator, Optional, Sized, Union

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmfer.registry import DATA_SAMPLERS


def dataset_labels(dataset) -> np.ndarray:
    """Labels of every sample: ``get_gt_labels()`` (mmpretrain datasets and wrappers), else
    ``get_cat_ids(i)[0]``."""
    if hasattr(dataset, 'get_gt_labels'):
        return np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    if hasattr(dataset, 'get_cat_ids'):
        return np.asarray([dataset.get_cat_ids(i)[0] for i in range(len(dataset))],
                          dtype=np.int64)
    raise TypeError(f'ClassBalancedSampler needs a dataset with get_gt_labels() or '
                    f'get_cat_ids(); {type(dataset).__name__} has neither')


@DATA_SAMPLERS.register_module()
class ClassBalancedSampler(Sampler):
    """Draw samples with replacement, each with probability ∝ 1 / count(its class).

    Every class then has the same expected share of an epoch: P(class c) = 1 / C_present, where
    C_present is the number of classes with samples. Per epoch one *global* draw of ``total_size``
    indices is made with a generator seeded by ``seed + epoch`` (the same on every rank), and rank
    r takes positions ``r, r + world_size, …`` of it, so the ranks' shares are disjoint parts of
    one draw. ``set_epoch`` changes the draw, as mmengine's ``DefaultSampler`` does.

    Args:
        dataset (Sized): a dataset with ``get_gt_labels()`` or ``get_cat_ids()``.
        num_samples (int | float): samples per epoch over all ranks: an ``int`` is an absolute
            number, a ``float`` a fraction of ``len(dataset)`` (``1.0`` = N_train as DAN /
            POSTER++, ``1/12`` for QCS, ``1/8`` for DCS; rounded down, at least 1).
        seed (int, optional): shared random seed; None → a seed synchronised across ranks.
        round_up (bool): pad the draw so every rank gets the same count
            (``total_size = ceil(num_samples / world_size) · world_size``); else rank r gets
            ``ceil((num_samples − r) / world_size)``.

    Attributes:
        epoch_size (int): ``num_samples`` resolved to a count. ``num_samples`` (attribute) is the
            per-rank count, as in ``DefaultSampler``, and is what ``len()`` returns.
    """

    def __init__(self, dataset: Sized, num_samples: Union[int, float] = 1.0,
                 seed: Optional[int] = None, round_up: bool = True) -> None:
        rank, world_size = get_dist_info()
        self.rank, self.world_size = rank, world_size
        self.dataset = dataset
        labels = dataset_labels(dataset)
        if labels.size == 0:
            raise ValueError('ClassBalancedSampler: the dataset is empty')
        counts = np.bincount(labels)
        self.weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.float64)
        if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Real) \
                or num_samples <= 0:
            raise ValueError(f'ClassBalancedSampler: num_samples={num_samples!r}; give a positive '
                             'int (count) or float (fraction of the dataset)')
        if isinstance(num_samples, numbers.Integral):
            self.epoch_size = int(num_samples)
        else:
            self.epoch_size = max(1, int(math.floor(num_samples * len(labels))))
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.round_up = round_up
        if round_up:
            self.num_samples = math.ceil(self.epoch_size / world_size)
            self.total_size = self.num_samples * world_size
        else:
            self.num_samples = math.ceil((self.epoch_size - rank) / world_size)
            self.total_size = self.epoch_size

    def global_indices(self) -> torch.Tensor:
        """The epoch's draw shared by all ranks: ``total_size`` indices."""
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.multinomial(self.weights, self.total_size, replacement=True, generator=g)

    def __iter__(self) -> Iterator[int]:
        return iter(self.global_indices()[self.rank:self.total_size:self.world_size].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the draw of ``epoch`` (seeded by ``seed + epoch``)."""
        self.epoch = epoch
