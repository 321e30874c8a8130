"""MobileFaceNet-136 landmark weights (cunjian/pytorch_face_landmark
``mobilefacenet_model_best.pth.tar``) → mmfer ``MobileFaceNet``.

backbones.md §2.3: a legacy (non-zip) torch file holding a dict with ``epoch`` (88),
``state_dict``, ``acc``, ``best_acc`` (0-d tensor) and ``optimizer``; ``state_dict`` has **333
entries** (283 without ``num_batches_tracked``), no prefix, named exactly as the module tree.
mmfer's ``MobileFaceNet`` uses those names, so the key map is the identity; the converter

- reads the file with :func:`mmfer.utils.checkpoint.safe_torch_load` — ``torch.load(
  weights_only=True)`` reads legacy containers of dicts, numbers and tensors too, so no full
  unpickling is ever needed (a file that needs more is refused with mmfer's message, which
  points to ``tools/model_converters/resave_weights_only.py`` for trusted files);
- keeps only ``state_dict`` (the optimizer state and training counters are dropped, declared);
- strips a ``module.`` prefix (DataParallel);
- checks every key and shape against ``MobileFaceNet()`` (missing, unexpected or mis-shaped
  entries raise :class:`~mmfer.utils.checkpoint.CheckpointMismatchError` naming them);
- writes ``dict(state_dict=..., meta=dict(converted_from=...))`` in torch's zip format.

The converted file (or the original one: same names) loads with
``aux_nets=dict(landmark=dict(type='MobileFaceNet', pretrained='<file>', frozen=True))``.
"""
from collections import OrderedDict
from typing import Dict, Tuple

import torch

from mmfer.utils.checkpoint import (check_state_dict, extract_state_dict, safe_torch_load,
                                    strip_prefix)

#: entries of the official state dict (with / without num_batches_tracked)
MFN_ENTRIES = 333
MFN_ENTRIES_NO_NBT = 283
FIX_HINT = ('Fix: pass mobilefacenet_model_best.pth.tar of cunjian/pytorch_face_landmark '
            '(MobileFaceNet([112, 112], 136)) or a file converted from it with '
            'tools/model_converters/mobilefacenet_to_mmfer.py; mmfer never loads a partial match.')


def _reference(num_landmarks: int = 136) -> torch.nn.Module:
    from mmfer.models.backbones.mobilefacenet import MobileFaceNet
    with torch.device('meta'):  # names and shapes only
        return MobileFaceNet(num_landmarks=num_landmarks)


def convert_mobilefacenet(state_dict: Dict[str, torch.Tensor], num_landmarks: int = 136,
                          source: str = 'checkpoint') -> Tuple['OrderedDict', dict]:
    """Check an official MobileFaceNet state dict against mmfer's network; return
    ``(state_dict, info)`` with ``info = dict(entries, num_batches_tracked=bool)``.

    A file without any ``num_batches_tracked`` buffer is accepted (they are only read with
    ``momentum=None``); anything else missing, unexpected or mis-shaped raises.
    """
    sd = strip_prefix(OrderedDict(state_dict))
    has_nbt = any(k.endswith('num_batches_tracked') for k in sd)
    ignore = () if has_nbt else (r'\.num_batches_tracked$', )
    check_state_dict(_reference(num_landmarks), sd, source=source, ignore=ignore, fix=FIX_HINT)
    return sd, dict(entries=len(sd), num_batches_tracked=has_nbt)


def convert_mobilefacenet_checkpoint(checkpoint, prefix: str = '', num_landmarks: int = 136,
                                     source: str = 'checkpoint') -> dict:
    """A loaded official file → ``dict(state_dict=..., meta=...)``; keys get ``prefix``."""
    dropped = sorted(str(k) for k in checkpoint if k != 'state_dict') \
        if isinstance(checkpoint, dict) and 'state_dict' in checkpoint else []
    sd, info = convert_mobilefacenet(extract_state_dict(checkpoint, source), num_landmarks,
                                     source)
    meta = dict(converted_from=dict(
        source='MobileFaceNet-136 (cunjian/pytorch_face_landmark)', file=source,
        entries=info['entries'], dropped_top_level=dropped, prefix=prefix,
        epoch=int(checkpoint['epoch']) if isinstance(checkpoint, dict) and
        isinstance(checkpoint.get('epoch'), int) else None,
        target=dict(type='MobileFaceNet', num_landmarks=num_landmarks)))
    return dict(state_dict=OrderedDict((prefix + k, v) for k, v in sd.items()), meta=meta)


def load_mobilefacenet_file(path: str):
    """Read the official file weights-only (:func:`mmfer.utils.checkpoint.safe_torch_load`)."""
    return safe_torch_load(path)


def load_into(module: torch.nn.Module, checkpoint, source: str = 'checkpoint', **kwargs) -> dict:
    """Entry point of :func:`mmfer.utils.checkpoint.load_pretrained` (``converter=
    'mobilefacenet'``): check strictly and load an already-read file into ``module``."""
    sd, info = convert_mobilefacenet(extract_state_dict(checkpoint, source),
                                     module.output_layer.linear.out_features, source)
    check_state_dict(module, sd, source=source, fix=FIX_HINT,
                     ignore=() if info['num_batches_tracked'] else (r'\.num_batches_tracked$', ))
    module.load_state_dict(sd, strict=False)
    return info
