"""Per-sample batch transforms that run on the device of the batch (docs/device_augmentation.md).

The data preprocessor's ``device_augments`` option (:class:`~mmfer.models.data_preprocessors.
FERDataPreprocessor`) runs these on a stacked N×3×H×W float batch, after the host→device copy,
instead of per image in the CPU pipeline. Every random parameter is drawn **per sample** from
the ``torch.Generator`` the preprocessor passes in (seeded, on the batch's device), with
vectorised tensor ops only — no Python loop over the batch, no host sync — so the same code runs
on CPU tensors (the tests) and on CUDA.

Each transform states the space it works in (``space``):

- ``'pixel'``: before normalisation, on 0..255 float pixels (:class:`BatchResize`);
- ``'normalized'``: after normalisation, in normalised units (:class:`BatchRandomErasing`, whose
  ``value`` is torchvision's: erasing follows ``Normalize`` in the official recipes);
- ``'any'``: commutes with the per-channel normalisation (:class:`BatchHorizontalFlip`).

They are registered in mmfer's ``BATCH_AUGMENTS`` (the registry of mmpretrain's Mixup / CutMix)
but are *not* mmpretrain batch augments: those mix samples and labels after normalisation, one
augment per batch; these are per-sample image ops that leave the labels alone.
"""
import math
from numbers import Number
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from mmfer.registry import BATCH_AUGMENTS

SPACES = ('pixel', 'normalized', 'any')
INTERPOLATIONS = ('bilinear', 'bicubic', 'nearest')


def _check_batch(name: str, inputs: torch.Tensor) -> None:
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or not inputs.is_floating_point():
        raise ValueError(f'{name}: expects a float N×C×H×W tensor, got '
                         f'{type(inputs).__name__} {tuple(getattr(inputs, "shape", ()))} '
                         f'{getattr(inputs, "dtype", "")}')


def _rand(n: int, generator: Optional[torch.Generator], device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device)


@BATCH_AUGMENTS.register_module()
class BatchResize:
    """Resize every image of the batch to ``size`` (the CPU pipeline's final ``Resize``).

    ``F.interpolate(x, size, mode, align_corners=False, antialias=antialias)`` on 0..255 float
    pixels (no rounding to uint8: the CPU pipeline's rounding is the ≤ 0.5 grey-level part of
    the difference). Which ``antialias`` reproduces which CPU resize:

    - ``antialias=True`` (default): PIL's filters (``Resize(backend='pillow')``,
      ``torchvision/Resize`` on PIL images — the DAN / QCS official recipes), which widen the
      filter support by the scale factor when shrinking; for enlarging it is plain bilinear;
    - ``antialias=False``: cv2's ``INTER_LINEAR`` (mmcv ``Resize``'s default backend, the
      SynthFER configs), a 2-tap filter at any scale.

    Deterministic (the generator is unused); an image already of ``size`` is returned as is.
    The output is in channels-last memory format (the values do not depend on it; channels-last
    models take it as is).

    Args:
        size (int | tuple[int, int]): output (h, w); an int is a square side.
        interpolation (str): ``'bilinear'`` (default, what every shipped config uses),
            ``'bicubic'`` or ``'nearest'``.
        antialias (bool): see above. Default True. Ignored for ``'nearest'``.
    """

    space = 'pixel'

    def __init__(self, size: Union[int, Sequence[int]], interpolation: str = 'bilinear',
                 antialias: bool = True):
        size = (size, size) if isinstance(size, Number) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f'BatchResize: size must be a positive int or (h, w), got {size}')
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'BatchResize: interpolation={interpolation!r} is not one of '
                             f'{list(INTERPOLATIONS)}')
        self.size, self.interpolation, self.antialias = size, interpolation, bool(antialias)

    def __call__(self, inputs: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        _check_batch('BatchResize', inputs)
        if tuple(inputs.shape[-2:]) == self.size:
            return inputs
        # channels-last: the same values, and torch's CPU kernels are ~4× faster on it
        # (interleaved timing on this 2-core machine, 64×3×100×100 → 64 px)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        if self.interpolation == 'nearest':
            return F.interpolate(inputs, size=self.size, mode='nearest-exact')
        return F.interpolate(inputs, size=self.size, mode=self.interpolation,
                             align_corners=False, antialias=self.antialias)

    def __repr__(self) -> str:
        return (f'BatchResize(size={self.size}, interpolation={self.interpolation!r}, '
                f'antialias={self.antialias})')


@BATCH_AUGMENTS.register_module()
class BatchHorizontalFlip:
    """Mirror each sample independently with probability ``prob`` (column j → W−1−j).

    One Bernoulli(prob) draw per sample (mmcv ``RandomFlip(prob, 'horizontal')`` /
    torchvision ``RandomHorizontalFlip(p)``). Flipping commutes with resizing and with the
    per-channel normalisation, so its place in the list does not matter.

    Args:
        prob (float): flip probability in [0, 1]. Default 0.5.
    """

    space = 'any'

    def __init__(self, prob: float = 0.5):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'BatchHorizontalFlip: prob must be in [0, 1], got {prob}')
        self.prob = float(prob)

    def get_params(self, n: int, generator: Optional[torch.Generator] = None,
                   device=None) -> torch.Tensor:
        """(N,) bool: which samples flip."""
        return _rand(n, generator, device) < self.prob

    def __call__(self, inputs: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        _check_batch('BatchHorizontalFlip', inputs)
        flip = self.get_params(inputs.shape[0], generator, inputs.device)
        return torch.where(flip[:, None, None, None], inputs.flip(-1), inputs)

    def __repr__(self) -> str:
        return f'BatchHorizontalFlip(prob={self.prob})'


@BATCH_AUGMENTS.register_module()
class BatchRandomErasing:
    """torchvision's ``RandomErasing`` per sample, vectorised, in normalised units.

    For each sample, with probability ``prob``: up to ``max_attempts`` (torchvision: 10) boxes
    are drawn with area ``a ~ U(scale)·H·W`` and aspect ``r = exp(U(log ratio))``;
    ``h = round(√(a·r))``, ``w = round(√(a/r))``; the first with ``h < H`` and ``w < W`` is kept
    (none: the sample is left unchanged, as torchvision does), its corner is uniform,
    ``top ∈ {0..H−h}``, ``left ∈ {0..W−w}``, and the box is filled with ``value``.
    Here all attempts are drawn at once and the first valid one is selected, which gives the
    same distribution as torchvision's sequential loop.

    The official DAN (``scale=(0.02, 0.25)``) and QCS (``scale=(0.02, 0.1)``) recipes erase
    after ``Normalize`` with ``value=0``: the fill is 0 in normalised units, i.e. the mean
    colour. The CPU stand-in (``NormalizedRandomErasing``) writes that colour rounded to uint8;
    here it is exact.

    Args:
        prob (float): erasing probability. Default 0.5 (both official recipes).
        scale (tuple[float, float]): area fraction range, 0 < lo ≤ hi ≤ 1. Default
            (0.02, 0.33) (torchvision's).
        ratio (tuple[float, float]): aspect ratio (h/w) range, 0 < lo ≤ hi. Default (0.3, 3.3).
        value (float | sequence[float] | str): fill in normalised units — one number, one per
            channel (RGB, the order after the preprocessor's ``to_rgb``), or ``'random'``
            (i.i.d. N(0, 1) per erased pixel and channel, torchvision's ``value='random'``).
            Default 0.
        max_attempts (int): box draws before giving up. Default 10 (torchvision).
    """

    space = 'normalized'

    def __init__(self, prob: float = 0.5, scale: Tuple[float, float] = (0.02, 0.33),
                 ratio: Tuple[float, float] = (0.3, 3.3),
                 value: Union[float, Sequence[float], str] = 0.0, max_attempts: int = 10):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'BatchRandomErasing: prob must be in [0, 1], got {prob}')
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f'BatchRandomErasing: scale must be (lo, hi) with 0 < lo ≤ hi ≤ 1, '
                             f'got {scale}')
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f'BatchRandomErasing: ratio must be (lo, hi) with 0 < lo ≤ hi, '
                             f'got {ratio}')
        if isinstance(value, str):
            if value != 'random':
                raise ValueError(f"BatchRandomErasing: value must be a number, a per-channel "
                                 f"sequence or 'random', got {value!r}")
        elif isinstance(value, Number):
            value = float(value)
        else:
            value = tuple(float(v) for v in value)
        if int(max_attempts) < 1:
            raise ValueError(f'BatchRandomErasing: max_attempts must be ≥ 1, got {max_attempts}')
        self.prob, self.value, self.max_attempts = float(prob), value, int(max_attempts)
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))

    def get_params(self, n: int, height: int, width: int,
                   generator: Optional[torch.Generator] = None, device=None):
        """Boxes of N samples: ``(erase (N,) bool, top, left, h, w (N,) long)``.

        ``erase`` is False for samples not drawn (prob) and for those without a valid box in
        ``max_attempts`` draws; their top/left/h/w are then 0.
        """
        a = self.max_attempts
        area = height * width
        lo, hi = self.scale
        target = area * (lo + (hi - lo) * torch.rand(n, a, generator=generator, device=device,
                                                     dtype=torch.float64))
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(
            n, a, generator=generator, device=device, dtype=torch.float64))
        hs = torch.round(torch.sqrt(target * aspect)).long()
        ws = torch.round(torch.sqrt(target / aspect)).long()
        ok = (hs < height) & (ws < width)
        found = ok.any(1)
        first = ok.to(torch.uint8).argmax(1, keepdim=True)  # first valid attempt (0 if none)
        h = hs.gather(1, first).squeeze(1)
        w = ws.gather(1, first).squeeze(1)
        # uniform integer corner in {0..H−h}: floor(u·(H−h+1)), clamped against u·k rounding to k
        u = torch.rand(n, 2, generator=generator, device=device, dtype=torch.float64)
        top = torch.minimum((u[:, 0] * (height - h + 1)).floor().long(), height - h)
        left = torch.minimum((u[:, 1] * (width - w + 1)).floor().long(), width - w)
        erase = (_rand(n, generator, device) < self.prob) & found
        zero = torch.zeros_like(h)
        h, w = torch.where(erase, h, zero), torch.where(erase, w, zero)
        top, left = torch.where(erase, top, zero), torch.where(erase, left, zero)
        return erase, top, left, h, w

    def masks(self, erase, top, left, h, w, height: int, width: int) -> torch.Tensor:
        """(N, 1, H, W) bool: the erased pixels of each sample."""
        rows = torch.arange(height, device=top.device)
        cols = torch.arange(width, device=top.device)
        in_r = (rows[None] >= top[:, None]) & (rows[None] < (top + h)[:, None])
        in_c = (cols[None] >= left[:, None]) & (cols[None] < (left + w)[:, None])
        return (in_r[:, :, None] & in_c[:, None, :] & erase[:, None, None])[:, None]

    def __call__(self, inputs: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        _check_batch('BatchRandomErasing', inputs)
        n, c, height, width = inputs.shape
        params = self.get_params(n, height, width, generator, inputs.device)
        mask = self.masks(*params, height, width)
        if self.value == 'random':
            fill = torch.randn(inputs.shape, generator=generator, device=inputs.device,
                               dtype=inputs.dtype)
        elif isinstance(self.value, tuple):
            if len(self.value) != c:
                raise ValueError(f'BatchRandomErasing: value has {len(self.value)} entries for '
                                 f'{c}-channel images')
            fill = torch.tensor(self.value, dtype=inputs.dtype,
                                device=inputs.device).view(1, c, 1, 1)
        else:
            fill = torch.full((), self.value, dtype=inputs.dtype, device=inputs.device)
        return torch.where(mask, fill, inputs)

    def __repr__(self) -> str:
        return (f'BatchRandomErasing(prob={self.prob}, scale={self.scale}, ratio={self.ratio}, '
                f'value={self.value!r}, max_attempts={self.max_attempts})')
