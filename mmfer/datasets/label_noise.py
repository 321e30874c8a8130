"""Label-noise wrapper for noisy-label protocols (datasets.md §10, dacfer.md §3)."""
import logging
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.logging import print_log

from mmfer.registry import DATASETS
from .base import FERDataError, LabelWrapperMixin, format_error, require_file
from .class_maps import ClassSpec, resolve_classes


def corrupt_labels(labels: np.ndarray, num_classes: int, ratio: float,
                   seed: Union[int, np.random.Generator], mode: str = 'bernoulli') -> np.ndarray:
    """Replace labels by a uniformly drawn *different* class; mmfer's one label-noise draw.

    A changed label is ``(y + r) mod K`` with ``r`` uniform in 1..K−1, i.e. uniform over the other
    K−1 classes. Which labels change depends on ``mode``:

    - ``'bernoulli'``: each label independently with probability ``ratio`` (expected ``ratio·N``
      changes); one ``r`` is drawn for every sample (N draws) after the N coin flips;
    - ``'exact'``: exactly ``round(ratio·N)`` labels chosen without replacement
      (``Generator.choice``), then N draws of ``r`` as above;
    - ``'permutation'``: exactly ``round(ratio·N)`` labels, the first ``round(ratio·N)`` indices
      of ``Generator.permutation(N)``, then one ``r`` per changed label, in that order. This is
      SynthFER's label noise (:func:`mmfer.datasets.synthfer.noisy_labels` passes its keyed
      generator), kept so that SynthFER's labels stay those its documented results used.

    Args:
        labels: (N,) integer labels in [0, K).
        num_classes: K ≥ 2.
        ratio: probability (bernoulli) or fraction (exact, permutation) in [0, 1].
        seed: an int (``np.random.default_rng(seed)``) or a ``np.random.Generator`` drawn from
            as is. Deterministic given either.
        mode: ``'bernoulli'``, ``'exact'`` or ``'permutation'``.

    Returns:
        (N,) int64 noisy labels.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f'noise ratio must lie in [0, 1], got {ratio}')
    if num_classes < 2:
        raise ValueError(f'label noise needs at least 2 classes, got {num_classes}')
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = len(labels)
    if mode == 'permutation':
        idx = rng.permutation(n)[:int(round(ratio * n))]
        noisy = labels.copy()
        noisy[idx] = (labels[idx] + rng.integers(1, num_classes, len(idx))) % num_classes
        return noisy
    if mode == 'bernoulli':
        flip = rng.random(n) < ratio
    elif mode == 'exact':
        flip = np.zeros(n, dtype=bool)
        flip[rng.choice(n, size=int(round(ratio * n)), replace=False)] = True
    else:
        raise ValueError(f"label noise mode {mode!r}; use 'bernoulli', 'exact', 'permutation' "
                         "(or 'file' in LabelNoiseDataset)")
    shift = rng.integers(1, num_classes, size=n)
    return np.where(flip, (labels + shift) % num_classes, labels)


@DATASETS.register_module()
class LabelNoiseDataset(LabelWrapperMixin):
    """Wrap a dataset and replace its labels by noisy ones, keeping the clean label.

    Every sample gets ``gt_label`` (noisy) and ``gt_label_clean`` (the wrapped dataset's label).
    To keep ``gt_label_clean`` in the packed ``DataSample``, add it to ``PackInputs``'s
    ``algorithm_keys``.

    Modes:

    - ``'bernoulli'`` (default) / ``'exact'`` / ``'permutation'``: :func:`corrupt_labels` with
      ``ratio`` and ``seed``;
    - ``'file'``: read ``noise_file`` in the RAF-DB list format ``<name> <label>`` (e.g. EAC's
      ``noise01.txt``), labels ``1``-based by default (``label_offset``) and in the ``file_classes``
      order (default ``'rafdb'``), remapped by name into the wrapped dataset's order. Lines are
      matched to samples by ``img_name`` (RAF-DB, FERPlus readers) or else the image file name;
      every sample needs a line, lines for other samples are counted and logged.

    The number of changed labels is logged and available as ``num_changed``.

    Args:
        dataset (BaseDataset | dict): the dataset to corrupt (usually a train split).
        ratio (float): corruption probability / fraction (bernoulli, exact, permutation).
        mode (str): ``'bernoulli'``, ``'exact'``, ``'permutation'`` or ``'file'``.
        seed (int): random seed (bernoulli, exact, permutation).
        noise_file (str, optional): noisy label file (file mode).
        label_offset (int): value of the first class in ``noise_file`` (1 for RAF-DB files).
        file_classes: class order of ``noise_file``'s labels.
        lazy_init (bool): defer loading until first use, like mmengine's wrappers.
    """

    def __init__(self, dataset: Union[BaseDataset, dict], ratio: float = 0.0,
                 mode: str = 'bernoulli', seed: int = 0, noise_file: Optional[str] = None,
                 label_offset: int = 1, file_classes: ClassSpec = 'rafdb',
                 lazy_init: bool = False):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not isinstance(dataset, BaseDataset):
            raise TypeError(f'LabelNoiseDataset wraps an mmengine BaseDataset (or its config), '
                            f'got {type(dataset).__name__}')
        if mode == 'file' and not noise_file:
            raise ValueError("LabelNoiseDataset: mode='file' needs noise_file")
        if mode not in ('bernoulli', 'exact', 'permutation', 'file'):
            raise ValueError(f"LabelNoiseDataset: mode={mode!r}; use 'bernoulli', 'exact', "
                             "'permutation' or 'file'")
        self.dataset = dataset
        self.ratio = ratio
        self.mode = mode
        self.seed = seed
        self.noise_file = noise_file
        self.label_offset = label_offset
        self.file_classes = file_classes
        self._metainfo = dataset.metainfo
        self._maybe_init(lazy_init)

    def full_init(self):
        if self._fully_initialized:
            return
        self.dataset.full_init()
        self.clean_labels = np.asarray(self.dataset.get_gt_labels(), dtype=np.int64)
        num_classes = len(self._metainfo['classes'])
        if self.mode == 'file':
            self.noisy_labels = self._read_noise_file(num_classes)
        else:
            self.noisy_labels = corrupt_labels(self.clean_labels, num_classes, self.ratio,
                                               self.seed, self.mode)
        self._labels = self.noisy_labels   # what get_gt_labels / get_cat_ids return
        self.num_changed = int((self.noisy_labels != self.clean_labels).sum())
        n = len(self.clean_labels)
        setting = f'file={self.noise_file}' if self.mode == 'file' else \
            f'ratio={self.ratio}, seed={self.seed}'
        print_log(f'LabelNoiseDataset ({self.mode}, {setting}): '
                  f'{self.num_changed} of {n} labels changed ({100.0 * self.num_changed / n:.2f}%)',
                  logger='current')
        self._fully_initialized = True

    def _read_noise_file(self, num_classes: int) -> np.ndarray:
        path = self.noise_file
        require_file(path, 'noisy label file', 'set noise_file to a <name> <label> list')
        classes = self._metainfo['classes']
        src = resolve_classes(self.file_classes)
        missing = [c for c in src if c not in classes]
        if missing:
            raise ValueError(f'LabelNoiseDataset: classes {missing} of file_classes have no '
                             f'index in the dataset classes {list(classes)}')
        to_dataset = [classes.index(c) for c in src]
        file_labels: Dict[str, int] = {}
        expected = (f"'<name> <label>' with label {self.label_offset}.."
                    f'{self.label_offset + len(src) - 1}')
        with open(path, encoding='utf-8') as f:
            for line_no, line in enumerate(f, 1):
                parts = line.split()
                if not parts or parts[0].startswith('#'):
                    continue
                if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                    raise FERDataError(format_error(path, line_no, f'malformed line '
                                                    f'{line.rstrip()!r}', expected))
                label = int(parts[1]) - self.label_offset
                if not 0 <= label < len(src):
                    raise FERDataError(format_error(path, line_no, f'label {parts[1]} out of '
                                                    'range', expected, 'check label_offset'))
                if parts[0] in file_labels:
                    raise FERDataError(format_error(path, line_no, f'{parts[0]} listed twice'))
                file_labels[parts[0]] = to_dataset[label]
        noisy = np.empty(len(self.clean_labels), dtype=np.int64)
        for i in range(len(noisy)):
            info = self.dataset.get_data_info(i)
            key = info.get('img_name') or osp.basename(info['img_path'])
            if key not in file_labels:
                raise FERDataError(f'{path}: no line for sample {key!r} (index {i}) of the '
                                   'wrapped dataset. Fix: use the noisy file of this split, or '
                                   'wrap the split the file was made for')
            noisy[i] = file_labels.pop(key)
        if file_labels:
            print_log(f'LabelNoiseDataset: {len(file_labels)} lines of {path} match no sample of '
                      'the wrapped dataset (not used)', logger='current', level=logging.WARNING)
        return noisy

    # ----------------------------------------------------------------------------------------
    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        info = self.dataset.get_data_info(idx)
        info['gt_label_clean'] = int(self.clean_labels[idx])
        info['gt_label'] = int(self.noisy_labels[idx])
        return info

    @force_full_init
    def __getitem__(self, idx: int):
        """Run the wrapped dataset's pipeline on the sample with its noisy label."""
        return self.dataset.pipeline(self.get_data_info(idx))

    @force_full_init
    def __len__(self) -> int:
        return len(self.dataset)

    @force_full_init
    def get_clean_labels(self) -> np.ndarray:
        return self.clean_labels.copy()

    def class_counts(self) -> Dict[str, int]:
        """Number of samples per class under the noisy labels: ``{name: count}``."""
        counts = np.bincount(self.get_gt_labels(), minlength=len(self._metainfo['classes']))
        return OrderedDict((n, int(c)) for n, c in zip(self._metainfo['classes'], counts))
