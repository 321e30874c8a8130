"""Data pre-processors: device-side augmentation (single view) and multi-view batches
(QCS/DCS quadruplets and pairs, paired views)."""
from typing import List, Optional, Sequence, Union

import torch
from mmengine.dist import get_rank
from mmengine.logging import MMLogger
from mmpretrain.models.utils import ClsDataPreprocessor

from mmfer.registry import BATCH_AUGMENTS, MODELS

MULTI_VIEW_AUGMENTS = ('refuse', 'independent')


@MODELS.register_module()
class FERDataPreprocessor(ClsDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` plus ``device_augments``: per-sample flip, random
    erasing and the final resize run on the device of the batch (docs/device_augmentation.md).

    With ``device_augments`` and ``training=True`` a batch of uint8 images (e.g. the decoded
    faces at their stored size, 3×H×W each) is processed as::

        stack → float → [pixel-space ops, e.g. BatchResize, BatchHorizontalFlip]
              → BGR→RGB, normalise (ClsDataPreprocessor) → [normalised-space ops, e.g.
              BatchRandomErasing]

    Ops come from :mod:`mmfer.models.batch_augments` (registry ``BATCH_AUGMENTS``); an op of
    ``space='pixel'`` after one of ``space='normalized'`` is refused (the list is the order they
    run in). With ``training=False`` nothing of this runs: validation / test batches get exactly
    ``ClsDataPreprocessor``'s processing, so the test pipeline must still resize on the CPU (the
    inferencer, ONNX export and checkpoints' input size are unchanged).

    Why a sibling of ``batch_augments`` rather than one of them: mmpretrain's
    ``RandomBatchAugment`` picks *one* augment per batch, runs after normalisation and turns
    the labels into one-hot scores (which FER's hard-label losses refuse); resizing must run
    before normalisation and erasing must not touch labels.

    Randomness: every op draws per-sample parameters from one ``torch.Generator`` on the
    batch's device, seeded with ``seed`` (+ the distributed rank, so ranks differ). With
    ``seed=None`` (default) the seed is drawn once, at the first training batch, from torch's
    global generator — which mmengine's Runner has seeded from ``randomness.seed`` — so a run
    with a fixed seed is reproducible without a second setting. The generator's state is not
    checkpointed: a resumed run restarts its augmentation stream. CPU and CUDA generators give
    different streams for one seed.

    Args:
        device_augments (list[dict], optional): batch-op configs, run in order. Default None
            (off: this is ``ClsDataPreprocessor``).
        seed (int, optional): generator seed; see above. Default None.
        **kwargs: ``ClsDataPreprocessor``'s (mean, std, to_rgb, num_classes, ...).
            ``batch_augments`` (Mixup/CutMix) and ``pad_size_divisor > 1`` cannot be combined
            with ``device_augments`` (their order relative to erasing is not defined here).
    """

    def __init__(self, *args, device_augments: Optional[List[dict]] = None,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(*args, **kwargs)
        ops = [BATCH_AUGMENTS.build(a) if isinstance(a, dict) else a
               for a in (device_augments or [])]
        name = type(self).__name__
        for op in ops:
            if getattr(op, 'space', None) not in ('pixel', 'normalized', 'any') or not callable(op):
                raise ValueError(f'{name}: device_augments entry {op!r} is not a batch op (a '
                                 "callable with space 'pixel', 'normalized' or 'any', e.g. "
                                 'BatchResize, BatchHorizontalFlip, BatchRandomErasing)')
        normalized_seen = False
        for op in ops:
            normalized_seen = normalized_seen or op.space == 'normalized'
            if op.space == 'pixel' and normalized_seen:
                raise ValueError(f'{name}: device_augments run in list order; the pixel-space '
                                 f'{op!r} comes after a normalised-space op in {ops}. Put '
                                 'BatchResize first and BatchRandomErasing last.')
        if ops and self.batch_augments is not None:
            raise ValueError(f'{name}: device_augments and batch_augments (Mixup/CutMix) '
                             'together are not supported; use one of them')
        if ops and self.pad_size_divisor > 1:
            raise ValueError(f'{name}: device_augments need pad_size_divisor=1 (got '
                             f'{self.pad_size_divisor}); resize to a divisible size instead')
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f'{name}: seed must be an int or None, got {seed!r}')
        self.device_augments = ops
        self.seed = seed
        self._generator: Optional[torch.Generator] = None

    # ------------------------------------------------------------------------------------------
    def generator(self, device: torch.device) -> torch.Generator:
        """The augmentation generator on ``device`` (created and seeded at first use)."""
        if self._generator is None or self._generator.device != torch.device(device):
            if self.seed is None:  # once: later calls reuse it (a device change re-seeds)
                self.seed = int(torch.randint(0, 2**31 - 1, (1, )).item())
                MMLogger.get_current_instance().info(
                    f'{type(self).__name__}: device_augments seed {self.seed} (drawn from '
                    "torch's generator; set data_preprocessor.seed to fix it)")
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.seed + get_rank())
        return self._generator

    def _stack(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """N×3×H×W float batch; images of different sizes go through the first op if that is
        a resize (one call per image), else they are refused."""
        name = type(self).__name__
        if isinstance(inputs, torch.Tensor):
            batch = inputs
        else:
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) == 1:
                batch = torch.stack(list(inputs))
            elif self.device_augments and self.device_augments[0].space == 'pixel' and all(
                    x.dim() == 3 for x in inputs):
                first = self.device_augments[0]
                batch = torch.cat([first(x[None].float()) for x in inputs])
                if len({tuple(x.shape) for x in batch}) != 1:
                    raise ValueError(f'{name}: {first!r} left images of different sizes')
            else:
                raise ValueError(f'{name}: device_augments need images of one size, got '
                                 f'{sorted(shapes)}; start device_augments with BatchResize or '
                                 'resize in the train pipeline')
        if batch.dim() != 4 or batch.shape[1] != 3:
            raise ValueError(f'{name}: device_augments process N×3×H×W images, got a batch of '
                             f'shape {tuple(batch.shape)}; multi-view (N×V×3×H×W) batches need '
                             'MultiViewDataPreprocessor')
        return batch.float()

    def forward(self, data: dict, training: bool = False) -> dict:
        if not (training and self.device_augments):
            return super().forward(data, training)
        inputs = self._stack(self.cast_data(data['inputs']))
        gen = self.generator(inputs.device)
        ops = list(self.device_augments)
        while ops and ops[0].space != 'normalized':
            inputs = ops.pop(0)(inputs, gen)
        # channel order, normalisation and labels: ClsDataPreprocessor on the float batch
        out = super().forward(dict(data, inputs=inputs), training)
        x = out['inputs']
        for op in ops:
            x = op(x, gen)
        out['inputs'] = x
        return out


@MODELS.register_module()
class MultiViewDataPreprocessor(FERDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` extended to samples with a view axis.

    A multi-view sample packs V images as one V×3×H×W tensor (e.g. :class:`QuadrupletDataset`).
    ``ClsDataPreprocessor`` would treat such a sample as one image with V channels: its BGR→RGB
    flip tests ``size(0) == 3`` and so silently skips V = 2 or 4 (and flips the *views* for
    V = 3). Here the views are flattened into a batch of N·V images, processed by
    ``ClsDataPreprocessor`` (cast, BGR→RGB, normalisation, padding, labels), and reshaped back::

        inputs: N samples of V×3×H×W  (or a tensor N×V×3×H×W)  →  N×V×3×H×W float
        data_samples: unchanged handling (one label per sample)

    Single-view inputs (3×H×W per sample, or an N×3×H×W tensor) go through
    ``ClsDataPreprocessor`` unchanged, so the same model pre-processes its validation batches.
    Batch augmentations (mixup/cutmix) mix samples, not views, and are refused for multi-view
    training batches.

    ``device_augments`` (see :class:`FERDataPreprocessor`) on a multi-view training batch draw
    each of the N·V images' parameters independently. That is right when the views are
    independent images each augmented on its own (QCS / DCS quadruplets and pairs: the official
    code runs the transform per image) and wrong when the views are tied to each other
    (``PairedFlipView``: view 1 is the mirror of view 0, same erased box). Since the batch
    does not say which, it must be stated:

    Args:
        multi_view_augments (str): ``'refuse'`` (default): a multi-view training batch with
            ``device_augments`` raises ValueError; ``'independent'``: per-image draws as above.
        **kwargs: :class:`FERDataPreprocessor`'s.
    """

    def __init__(self, *args, multi_view_augments: str = 'refuse', **kwargs):
        super().__init__(*args, **kwargs)
        if multi_view_augments not in MULTI_VIEW_AUGMENTS:
            raise ValueError(f'MultiViewDataPreprocessor: multi_view_augments='
                             f'{multi_view_augments!r} is not one of {list(MULTI_VIEW_AUGMENTS)}')
        self.multi_view_augments = multi_view_augments

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor):
            multi = inputs.dim() == 5
        else:
            multi = len(inputs) > 0 and inputs[0].dim() == 4
        if not multi:
            return super().forward(data, training)
        if training and self.batch_augments is not None:
            raise ValueError('MultiViewDataPreprocessor: batch_augments are not supported for '
                             'multi-view (N×V×3×H×W) training batches; remove batch_augments '
                             'from data_preprocessor')
        if training and self.device_augments and self.multi_view_augments == 'refuse':
            raise ValueError(
                'MultiViewDataPreprocessor: device_augments on a multi-view (N×V×3×H×W) '
                "training batch: set multi_view_augments='independent' if every view is an "
                'image augmented on its own (QCS / DCS), or keep the augmentation in the CPU '
                'pipeline if the views are tied (PairedFlipView flip pairs); allowed values: '
                f'{list(MULTI_VIEW_AUGMENTS)}')
        if isinstance(inputs, torch.Tensor):
            n, v = inputs.shape[:2]
            flat = inputs.flatten(0, 1)
        else:
            n, v = len(inputs), inputs[0].shape[0]
            bad = [tuple(x.shape) for x in inputs if x.dim() != 4 or x.shape[0] != v]
            if bad:
                raise ValueError('MultiViewDataPreprocessor: every sample must have the same '
                                 f'number of views V={v} (V×3×H×W); got shapes {bad}')
            flat = [view for sample in inputs for view in sample]
        out = super().forward(dict(data, inputs=flat), training)
        out['inputs'] = out['inputs'].reshape(n, v, *out['inputs'].shape[1:])
        return out
