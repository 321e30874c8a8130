"""SynthFER: mmfer's built-in, procedurally rendered facial-expression dataset.

Built on mmpretrain's :class:`~mmpretrain.datasets.BaseDataset` (metainfo, class names,
serialisation of the sample list, pipeline, ``get_gt_labels``); mmfer adds the renderer
(:mod:`mmfer.datasets.synthfer_render`) and the protocol options (class balance, label noise,
pose / occlusion / weak-intensity subsets).

``load_data_list`` renders nothing: it assigns labels and draws the few scalar parameters each
entry records (identity, intensity, yaw/pitch/roll, occluder kind; ~0.1 ms per sample).  The image
is rendered in :meth:`SynthFER.prepare_data` (i.e. in ``__getitem__``, in the data-loader
workers), from ``(seed, split, index, options)`` only, so a sample is the same image whatever the
number of workers, the access order or the machine.

Results dict given to the pipeline (the convention of mmcv's ``LoadImageFromFile``):

- ``img``: (H, W, 3) uint8 **BGR** (so ``PackInputs`` + ``ClsDataPreprocessor(to_rgb=True)``
  see RGB, exactly as for images loaded from disk); ``img_shape`` = ``ori_shape`` = (H, W);
- ``gt_label``: the training label (noisy when ``label_noise > 0``), ``gt_label_clean``;
- ``landmarks`` (68, 2) float32 pixel (x, y), iBUG order; ``pose`` (3,) float32 degrees
  (yaw, pitch, roll); ``intensity``; ``identity``; ``face_box`` (4,) x1, y1, x2, y2;
  ``landmarks_visible`` (68,) bool; ``landmarks_occluded`` (68,) bool; ``occluder`` str.

Class balance: ``'uniform'`` or ``'rafdb'`` (the RAF-DB training distribution scaled to
``num_samples``); per-class counts are exact (largest remainder rounding) and the labels are
assigned to indices by a permutation drawn from (seed, split, num_samples).

Label noise p: exactly round(p·N) labels (indices drawn with the seed) are replaced by a class
drawn uniformly among the 6 others (:func:`noisy_labels`, i.e. mmfer's one label-noise function
:func:`mmfer.datasets.label_noise.corrupt_labels` in its ``'permutation'`` mode);
``gt_label_clean`` keeps the truth.

Subsets (conditional renders; the label, identity, expression, appearance and degradations of
sample i are those of sample i of the full split, only the conditioned group is redrawn):

- ``'pose30'`` / ``'pose45'``: |yaw| > 30° / > 45° (yaw from the same normal law, truncated);
- ``'occlusion'``: always one strong occluder (sunglasses, mask, hand or patch);
- ``'weak'``: intensity uniform in :data:`~mmfer.datasets.synthfer_render.WEAK_INTENSITY` for
  every non-neutral class (Neutral stays at 0).
"""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger
from mmpretrain.datasets import BaseDataset

from mmfer.registry import DATASETS

from .label_noise import corrupt_labels
from .synthfer_render import (CLASSES, DEFAULT_NUM_IDENTITIES, NUM_CLASSES, RAFDB_TRAIN_COUNTS,
                              SPLIT_IDS, WEAK_INTENSITY, render, sample_meta, sample_params)
from .synthfer_render.rng import _keyed_rng

SUBSETS = {
    None: {},
    'pose30': dict(min_abs_yaw=30.0),
    'pose45': dict(min_abs_yaw=45.0),
    'occlusion': dict(occlusion='strong'),
    'weak': dict(intensity_range=WEAK_INTENSITY),
}
# Key tags of the dataset-level RNG draws (label permutation, label noise).
_K_LABELS, _K_NOISE = 1001, 1002


def class_counts(num_samples: int,
                 class_balance: Union[str, Sequence[float]] = 'uniform') -> np.ndarray:
    """Exact per-class counts summing to ``num_samples`` (largest-remainder rounding).

    ``class_balance``: 'uniform', 'rafdb' (RAF-DB train proportions
    :data:`~mmfer.datasets.synthfer_render.RAFDB_TRAIN_COUNTS`) or a sequence of 7 weights.
    """
    if isinstance(class_balance, str):
        if class_balance == 'uniform':
            w = np.ones(NUM_CLASSES)
        elif class_balance == 'rafdb':
            w = np.asarray(RAFDB_TRAIN_COUNTS, float)
        else:
            raise ValueError(f"class_balance must be 'uniform', 'rafdb' or {NUM_CLASSES} weights, "
                             f'got {class_balance!r}')
    else:
        w = np.asarray(class_balance, float)
        if w.shape != (NUM_CLASSES,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f'class_balance weights must be {NUM_CLASSES} non-negative numbers '
                             f'with a positive sum, got {class_balance!r}')
    exact = w / w.sum() * num_samples
    counts = np.floor(exact).astype(int)
    rest = num_samples - counts.sum()
    # ties broken by class index (stable sort) so the counts never depend on float noise order
    counts[np.argsort(-(exact - counts), kind='stable')[:rest]] += 1
    return counts


def assign_labels(num_samples: int, seed: int, split: str,
                  class_balance: Union[str, Sequence[float]] = 'uniform') -> np.ndarray:
    """Clean labels (num_samples,) int64: exact class counts in a seeded random order."""
    counts = class_counts(num_samples, class_balance)
    labels = np.repeat(np.arange(NUM_CLASSES), counts)
    return _keyed_rng(seed, SPLIT_IDS[split], _K_LABELS, num_samples).permutation(labels)


def noisy_labels(labels: np.ndarray, rate: float, seed: int, split: str) -> np.ndarray:
    """SynthFER's noisy labels: exactly round(rate·N) labels replaced by a uniformly drawn
    *different* class.

    The draw is :func:`mmfer.datasets.label_noise.corrupt_labels` in its ``'permutation'`` mode
    (the flipped indices are the first round(rate·N) of a permutation, new = (old + k) mod C with
    k uniform in 1..C−1) from the generator keyed by (seed, split, rate, N), so the labels of a
    given (seed, split, rate, N) never change.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f'label_noise must be in [0, 1), got {rate}')
    labels = np.asarray(labels, np.int64)
    n = len(labels)
    rng = _keyed_rng(seed, SPLIT_IDS[split], _K_NOISE, int(round(rate * 1e6)), n)
    return corrupt_labels(labels, NUM_CLASSES, rate, rng, mode='permutation')


@DATASETS.register_module()
class SynthFER(BaseDataset):
    """Procedurally rendered FER dataset (7 classes, RAF-DB order), rendered on the fly.

    Args:
        num_samples (int): number of samples N.
        split (str): 'train', 'val' or 'test'; separate random streams and disjoint identities.
        img_size (int): side of the square images (32–256).
        seed (int): dataset seed.
        class_balance (str | seq): 'uniform', 'rafdb' or 7 weights (see :func:`class_counts`).
        label_noise (float): fraction p of labels replaced by another class (0 = clean).
        subset (str, optional): None, 'pose30', 'pose45', 'occlusion' or 'weak'.
        num_identities (int): identities drawn from for this split.
        nuisance (dict, optional): overrides of
            :data:`~mmfer.datasets.synthfer_render.DEFAULT_NUISANCE` (e.g. ``occlusion_prob``).
        intensity_cfg (dict, optional): overrides of
            :data:`~mmfer.datasets.synthfer_render.DEFAULT_INTENSITY`.
        pipeline (list): transforms applied to the rendered results (no loading step needed).
        **kwargs: other :class:`mmpretrain.datasets.BaseDataset` arguments (``indices``,
            ``serialize_data``, ``lazy_init``, ``test_mode``, ``metainfo`` ...).
    """

    METAINFO = dict(classes=CLASSES)

    def __init__(self, num_samples: int = 1000, split: str = 'train', img_size: int = 112,
                 seed: int = 0, class_balance: Union[str, Sequence[float]] = 'uniform',
                 label_noise: float = 0.0, subset: Optional[str] = None,
                 num_identities: int = DEFAULT_NUM_IDENTITIES, nuisance: Optional[dict] = None,
                 intensity_cfg: Optional[dict] = None, pipeline: Sequence = (), **kwargs):
        if split not in SPLIT_IDS:
            raise ValueError(f'SynthFER: split must be one of {sorted(SPLIT_IDS)}, got {split!r}')
        if subset not in SUBSETS:
            raise ValueError(f'SynthFER: subset must be one of {list(SUBSETS)}, got {subset!r}')
        if not 32 <= int(img_size) <= 256:
            raise ValueError(f'SynthFER: img_size must be in [32, 256], got {img_size}')
        if int(num_samples) <= 0 or int(num_identities) <= 0:
            raise ValueError(f'SynthFER: num_samples and num_identities must be positive, got '
                             f'{num_samples} and {num_identities}')
        if 'ann_file' in kwargs or 'data_root' in kwargs:
            raise ValueError('SynthFER renders its images and reads no files: remove ann_file / '
                             'data_root from its config (use tools/dataset_converters/'
                             'synthfer_writer.py to write the images to disk)')
        self.num_samples = int(num_samples)
        self.split = split
        self.img_size = int(img_size)
        self.seed = int(seed)
        self.class_balance = class_balance
        self.label_noise = float(label_noise)
        self.subset = subset
        self.num_identities = int(num_identities)
        self.nuisance = dict(nuisance or {})
        self.intensity_cfg = dict(intensity_cfg or {})
        self._param_kwargs = dict(split=split, num_identities=self.num_identities,
                                  nuisance=self.nuisance, intensity_cfg=self.intensity_cfg,
                                  **SUBSETS[subset])
        # validate the option dicts now rather than in a worker
        sample_meta(self.seed, 0, 0, **self._param_kwargs)
        super().__init__(ann_file='', pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Labels and per-sample scalars, no rendering."""
        clean = assign_labels(self.num_samples, self.seed, self.split, self.class_balance)
        noisy = noisy_labels(clean, self.label_noise, self.seed, self.split) \
            if self.label_noise > 0 else clean
        data_list = []
        for i in range(self.num_samples):
            m = sample_meta(self.seed, i, int(clean[i]), **self._param_kwargs)
            data_list.append(dict(
                index=i, img_id=f'{self.split}_{i + 1:05d}', gt_label=int(noisy[i]),
                gt_label_clean=int(clean[i]), identity=m['identity'], intensity=m['intensity'],
                pose=np.array(m['pose'], np.float32), occluder=m['occluder']))
        counts = np.bincount(clean, minlength=NUM_CLASSES)
        MMLogger.get_current_instance().info(
            f'SynthFER {self.split} (subset={self.subset}, seed={self.seed}, '
            f'size={self.img_size}): {self.num_samples} samples, per class '
            + ', '.join(f'{c} {n}' for c, n in zip(CLASSES, counts))
            + (f'; label noise {self.label_noise:.0%}: {int((noisy != clean).sum())} flipped'
               if self.label_noise > 0 else ''))
        return data_list

    def params(self, idx: int) -> dict:
        """All renderer parameters of entry ``idx`` (see :func:`sample_params`)."""
        info = self.get_data_info(idx)
        return sample_params(self.seed, info['index'], info['gt_label_clean'], **self._param_kwargs)

    def render_sample(self, idx: int) -> dict:
        """The results dict of entry ``idx`` before the pipeline (``img`` is BGR)."""
        info = self.get_data_info(idx)
        img, ann = render(sample_params(self.seed, info['index'], info['gt_label_clean'],
                                        **self._param_kwargs), self.img_size)
        info.update(img=np.ascontiguousarray(img[:, :, ::-1]), img_shape=img.shape[:2],
                    ori_shape=img.shape[:2], landmarks=ann['landmarks'], pose=ann['pose'],
                    face_box=ann['face_box'], landmarks_visible=ann['visible'],
                    landmarks_occluded=ann['occluded'], occluder=ann['occluder'])
        return info

    def prepare_data(self, idx: int):
        """Render entry ``idx`` and run the pipeline on it."""
        return self.pipeline(self.render_sample(idx))

    def get_cat_ids(self, idx: int) -> List[int]:
        return [int(self.get_data_info(idx)['gt_label'])]

    def get_gt_labels(self) -> np.ndarray:
        """Training labels (noisy when ``label_noise > 0``) without rendering."""
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))])

    def get_clean_labels(self) -> np.ndarray:
        return np.array([self.get_data_info(i)['gt_label_clean'] for i in range(len(self))])

    def extra_repr(self) -> List[str]:
        return [f'split: \t{self.split}', f'subset: \t{self.subset}', f'seed: \t{self.seed}',
                f'image size: \t{self.img_size}', f'class balance: \t{self.class_balance}',
                f'label noise: \t{self.label_noise}']
