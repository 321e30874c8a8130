"""Data pre-processor for multi-view batches (QCS/DCS quadruplets and pairs, paired views)."""
from typing import Optional

import torch
from mmpretrain.models.utils import ClsDataPreprocessor

from mmfer.registry import MODELS


@MODELS.register_module()
class MultiViewDataPreprocessor(ClsDataPreprocessor):
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
    """

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
