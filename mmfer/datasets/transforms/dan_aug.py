"""torchvision's ``RandomErasing`` as the FER recipes use it, run on the un-normalised image.

The DAN recipes (and many FER repositories) apply ``transforms.RandomErasing`` *after*
``ToTensor`` + ``Normalize``, with ``value=0`` — i.e. the erased box ends up at the
normalisation mean.  In mmfer normalisation happens later, in the model's data preprocessor, so
the erasing has to run on the H×W×3 image in the pipeline.  mmpretrain's ``RandomErasing``
samples the box differently (it clips an oversized box instead of re-drawing it), so this
transform reuses torchvision's own sampler, ``RandomErasing.get_params``, for the box, and
converts the normalised fill value back to pixels.

The other DAN augmentations need no mmfer code: mmcv's ``RandomApply`` plus mmpretrain's
``NumpyToPIL`` / ``torchvision/<Transform>`` / ``PILToNumpy`` wrappers express
``RandomApply([RandomRotation, RandomCrop(padding)])`` and ``RandomAffine`` exactly
(see ``configs/dan``).
"""
from numbers import Number
from typing import Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from torchvision import transforms as tv_transforms

from mmfer.registry import TRANSFORMS


@TRANSFORMS.register_module()
class NormalizedRandomErasing(BaseTransform):
    """With probability ``prob`` erase a random box as torchvision's ``RandomErasing`` would on
    the normalised tensor, writing the pixel value that normalises to ``value``.

    Box: torchvision's rule — up to 10 draws of area ∈ scale·H·W and log-uniform aspect
    ratio ∈ ``ratio``; a box that does not fit is re-drawn; after 10 misses nothing is erased.
    Fill (per channel c of the image as it sits in the pipeline): ``mean_c + value_c·std_c``,
    rounded and clipped for uint8 images (at most 0.5 grey level, < 0.01 in normalised units,
    away from the exact value).  Randomness comes from torch's generator, as in torchvision.

    Required keys: ``img`` (H×W×3). Modified keys: ``img``.

    Args:
        prob (float): probability of erasing. Default 0.5.
        scale (tuple): range of the erased area as a fraction of the image. Default (0.02, 0.33).
        ratio (tuple): range of the aspect ratio h/w. Default (0.3, 3.3).
        value (float | sequence): fill in normalised units (torchvision's ``value``). Default 0.
        mean (sequence): normalisation mean, pixel units, **RGB** order (as the data
            preprocessor's ``mean``). Default ImageNet.
        std (sequence): normalisation std, pixel units, RGB order. Default ImageNet.
        channel_order (str): order of ``img`` in the pipeline: ``'bgr'`` (mmcv loaders, default)
            or ``'rgb'``.
    """

    def __init__(self, prob: float = 0.5, scale: Tuple[float, float] = (0.02, 0.33),
                 ratio: Tuple[float, float] = (0.3, 3.3),
                 value: Union[float, Sequence[float]] = 0.0,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 channel_order: str = 'bgr'):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'NormalizedRandomErasing: prob must be in [0, 1], got {prob}')
        if not (0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f'NormalizedRandomErasing: scale must satisfy 0 < lo ≤ hi ≤ 1, '
                             f'got {scale}')
        if not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f'NormalizedRandomErasing: ratio must satisfy 0 < lo ≤ hi, '
                             f'got {ratio}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"NormalizedRandomErasing: channel_order must be 'bgr' or 'rgb', "
                             f'got {channel_order!r}')
        self.prob = float(prob)
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        value = [float(value)] * 3 if isinstance(value, Number) else [float(v) for v in value]
        if len(value) != 3 or len(mean) != 3 or len(std) != 3:
            raise ValueError('NormalizedRandomErasing: value, mean and std need 1 or 3 entries')
        fill_rgb = np.array(mean, np.float64) + np.array(value) * np.array(std, np.float64)
        self.fill = fill_rgb[::-1].copy() if channel_order == 'bgr' else fill_rgb
        self.value, self.mean, self.std = value, tuple(mean), tuple(std)
        self.channel_order = channel_order

    def transform(self, results: dict) -> dict:
        if torch.rand(1).item() >= self.prob:
            return results
        img = results['img']
        h_img, w_img = img.shape[:2]
        # get_params only reads the shape: a stride-0 view costs no memory
        shape_only = torch.empty(1).expand(3, h_img, w_img)
        top, left, h, w, _ = tv_transforms.RandomErasing.get_params(
            shape_only, scale=self.scale, ratio=self.ratio, value=[0.0])
        if h == h_img and w == w_img and top == 0 and left == 0:
            return results  # torchvision's "no box found": the image is returned unchanged
        fill = self.fill
        if img.dtype == np.uint8:
            fill = np.clip(np.round(fill), 0, 255)
        img = img.copy()
        img[top:top + h, left:left + w] = fill.astype(img.dtype)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, scale={self.scale}, '
                f'ratio={self.ratio}, value={self.value}, channel_order={self.channel_order!r})')
