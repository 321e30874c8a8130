"""PairedFlipView: the (image, horizontal flip) view pair of DacFER / EAC training.

Spec ``dacfer.md`` §1.3. The transform turns one sample into V = 2 views stacked on a leading
axis, ``img``: 2×3×H×W (channel-first, the pipeline's channel order), which ``PackInputs``
packs unchanged as ``inputs`` and :class:`~mmfer.models.data_preprocessors.MultiViewDataPreprocessor`
normalises per view for :class:`~mmfer.models.classifiers.MultiViewClassifier` (N×2×3×H×W).

``pair_mode``:

- ``'erase_then_flip'`` (default; EAC's clean-label path): view 0 = A(x), view 1 = Flip(A(x)),
  where A is the augmentation (``transforms``, or everything before this transform in the
  pipeline when ``transforms`` is empty) — both views share the same crop and the same erased
  rectangle, mirrored;
- ``'independent'`` (EAC's noisy-label script path): view 0 = A(x), view 1 = A′(Flip(x)): the
  flipped raw image through its own independent draw of ``transforms`` (which must then be
  given: the transform re-runs them).

Flip(x)[:, j] = x[:, W−1−j]. There is no other random horizontal flip in the recipe: the flip
happens only through the pair. The sample's labels and metadata are those of view 0.
"""
import copy
from typing import List, Optional

import numpy as np
from mmcv.transforms import BaseTransform, Compose

from mmfer.registry import TRANSFORMS

PAIR_MODES = ('erase_then_flip', 'independent')


def hflip(img: np.ndarray) -> np.ndarray:
    """H×W[×C] image → its horizontal mirror (column j → W−1−j), contiguous."""
    return np.ascontiguousarray(img[:, ::-1])


@TRANSFORMS.register_module()
class PairedFlipView(BaseTransform):
    """Make the 2-view flip pair of a sample (``img`` H×W×3 → 2×3×H×W).

    Required keys: ``img``. Modified keys: ``img`` (2×3×H×W), ``img_shape``. Added keys:
    ``num_views`` (2).

    Args:
        transforms (list[dict], optional): the augmentations A run inside the pair (e.g.
            RandomCrop → NormalizedRandomErasing). Empty (default): A is whatever ran before
            this transform; only ``'erase_then_flip'`` is possible then.
        pair_mode (str): ``'erase_then_flip'`` (default) or ``'independent'``.
    """

    def __init__(self, transforms: Optional[List[dict]] = None,
                 pair_mode: str = 'erase_then_flip'):
        if pair_mode not in PAIR_MODES:
            raise ValueError(f'PairedFlipView: pair_mode={pair_mode!r} is not one of '
                             f'{list(PAIR_MODES)}')
        transforms = list(transforms or [])
        if pair_mode == 'independent' and not transforms:
            raise ValueError("PairedFlipView(pair_mode='independent') re-runs the augmentation "
                             'on the flipped raw image: give it as transforms=[...] (e.g. the '
                             'RandomCrop and NormalizedRandomErasing), not before it in the '
                             'pipeline')
        self.pair_mode = pair_mode
        # built from mmfer's registry (parents: mmpretrain, mmcv), whatever the default scope
        self.transforms = Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t
                                   for t in transforms])
        self.has_transforms = bool(transforms)

    @staticmethod
    def _image(results: dict, which: str) -> np.ndarray:
        img = results['img']
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError(f'PairedFlipView: {which} must be an H×W[×C] numpy image, got '
                            f'{type(img).__name__} {getattr(img, "shape", "")}; place it before '
                            'PackInputs and after the image transforms')
        return img[..., None] if img.ndim == 2 else img

    def transform(self, results: dict) -> Optional[dict]:
        raw = copy.deepcopy(results) if self.pair_mode == 'independent' else None
        if self.has_transforms:
            results = self.transforms(results)
            if results is None:
                return None
        view0 = self._image(results, 'view 0')
        if self.pair_mode == 'erase_then_flip':
            view1 = hflip(view0)
        else:
            raw['img'] = hflip(raw['img'])
            other = self.transforms(raw)
            if other is None:
                return None
            view1 = self._image(other, 'view 1')
            if view1.shape != view0.shape:
                raise ValueError(f'PairedFlipView: the two views have shapes {view0.shape} and '
                                 f'{view1.shape}; end the transforms with a fixed-size crop or '
                                 'resize so both views stack')
        results['img'] = np.ascontiguousarray(np.stack([view0, view1]).transpose(0, 3, 1, 2))
        results['img_shape'] = view0.shape[:2]
        results['num_views'] = 2
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(pair_mode={self.pair_mode!r}, '
                f'transforms={self.transforms.transforms})')
