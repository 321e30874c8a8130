"""Official DAN checkpoints (yaoing/DAN) → mmfer (specs/dan.md §4).

Container of the released files: ``{'iter': epoch, 'model_state_dict': ..., 'optimizer_state_dict':
...}``, no ``module.`` prefix.  ``model_state_dict`` has 120 backbone entries, 37 per head and
7 for ``fc`` + ``bn`` (275 for C = 7, H = 4).  Renaming (official → mmfer):

==================================== ===========================================
``features.0.``                      ``backbone.conv1.``
``features.1.``                      ``backbone.bn1.``
``features.{K+3}.`` (K = 1..4)       ``backbone.layer{K}.``
``cat_head{h}.sa.conv1x1.{0,1}.``    ``neck.heads.{h}.spatial.conv1x1.{conv,bn}.``
``cat_head{h}.sa.conv_3x3.{0,1}.``   ``neck.heads.{h}.spatial.conv3x3.{conv,bn}.``
``cat_head{h}.sa.conv_1x3.{0,1}.``   ``neck.heads.{h}.spatial.conv1x3.{conv,bn}.``
``cat_head{h}.sa.conv_3x1.{0,1}.``   ``neck.heads.{h}.spatial.conv3x1.{conv,bn}.``
``cat_head{h}.ca.attention.{0,1,3}.`` ``neck.heads.{h}.channel.{fc1,bn,fc2}.``
``fc.`` / ``bn.``                    ``head.fc.`` / ``head.bn.``
==================================== ===========================================

The affinity centers are not in the official files (they live in the training criterion); the
converted checkpoint therefore has no ``head.losses.*`` entries, and loaders skip exactly those
(``ignore_missing=[LOSS_STATE_KEYS]`` of :mod:`mmfer.utils.checkpoint`, as ``tools/test.py``
does).
"""
import copy
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from mmfer.utils.checkpoint import (LOSS_STATE_KEYS, CheckpointMismatchError, check_state_dict,
                                    extract_state_dict, strip_prefix)

#: model keys a converted DAN checkpoint legitimately lacks (affinity centers: loss state)
LOSS_STATE_IGNORE = (LOSS_STATE_KEYS, )

#: number of state-dict entries of each official part
BACKBONE_ENTRIES = 120
HEAD_ENTRIES = 37
CLASSIFIER_ENTRIES = 7

#: dataset name → (class-order preset of mmfer.datasets.class_maps, number of classes, config)
DAN_DATASETS = {
    'rafdb': ('rafdb', 7, 'configs/dan/dan_r18_rafdb.py'),
    'affectnet7': ('affectnet7', 7, 'configs/dan/dan_r18_affectnet7.py'),
    'affectnet8': ('affectnet8', 8, 'configs/dan/dan_r18_affectnet8.py'),
}

#: official input settings (specs/dan.md §3): ``Resize((224, 224))`` of a PIL image (PIL
#: bilinear, aspect not kept), ImageNet mean/std on RGB. mmcv's ``Resize`` with
#: ``backend='pillow', interpolation='bilinear'`` calls ``PIL.Image.resize(BILINEAR)`` on the
#: array, so :func:`mmfer.apis.init_model` on a converted file reproduces the official
#: preprocessing exactly, as the test pipeline of ``configs/dan/*.py`` does (mmcv's default cv2
#: resize differs by up to one grey level).
INPUT_CFG = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True,
    test_pipeline=[dict(type='LoadFERImage'),
                   dict(type='Resize', scale=(224, 224), backend='pillow',
                        interpolation='bilinear'),
                   dict(type='PackInputs')])

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_CONV = r'(weight|bias)'
_BLOCK = (r'[01]\.(conv[12]\.weight|bn[12]\.' + _BN + r'|downsample\.0\.weight|downsample\.1\.'
          + _BN + r')')
_BRANCH = {'conv1x1': 'conv1x1', 'conv_3x3': 'conv3x3', 'conv_1x3': 'conv1x3',
           'conv_3x1': 'conv3x1'}
_CA = {'0': 'fc1', '1': 'bn', '3': 'fc2'}


def _rules():
    """(compiled regex, function(match) → mmfer key) for every official key family."""
    return [
        (re.compile(r'^features\.0\.weight$'), lambda m: 'backbone.conv1.weight'),
        (re.compile(r'^features\.1\.' + _BN + r'$'), lambda m: f'backbone.bn1.{m.group(1)}'),
        (re.compile(r'^features\.([4-7])\.(' + _BLOCK + r')$'),
         lambda m: f'backbone.layer{int(m.group(1)) - 3}.{m.group(2)}'),
        (re.compile(r'^cat_head(\d+)\.sa\.(conv1x1|conv_3x3|conv_1x3|conv_3x1)\.0\.' + _CONV
                    + r'$'),
         lambda m: f'neck.heads.{m.group(1)}.spatial.{_BRANCH[m.group(2)]}.conv.{m.group(3)}'),
        (re.compile(r'^cat_head(\d+)\.sa\.(conv1x1|conv_3x3|conv_1x3|conv_3x1)\.1\.' + _BN
                    + r'$'),
         lambda m: f'neck.heads.{m.group(1)}.spatial.{_BRANCH[m.group(2)]}.bn.{m.group(3)}'),
        (re.compile(r'^cat_head(\d+)\.ca\.attention\.([03])\.' + _CONV + r'$'),
         lambda m: f'neck.heads.{m.group(1)}.channel.{_CA[m.group(2)]}.{m.group(3)}'),
        (re.compile(r'^cat_head(\d+)\.ca\.attention\.1\.' + _BN + r'$'),
         lambda m: f'neck.heads.{m.group(1)}.channel.bn.{m.group(2)}'),
        (re.compile(r'^fc\.' + _CONV + r'$'), lambda m: f'head.fc.{m.group(1)}'),
        (re.compile(r'^bn\.' + _BN + r'$'), lambda m: f'head.bn.{m.group(1)}'),
    ]


_RULES = _rules()


def map_dan_key(key: str) -> str:
    """The mmfer name of one official DAN key; ``KeyError`` for a key outside the layout."""
    for regex, fn in _RULES:
        m = regex.match(key)
        if m:
            return fn(m)
    raise KeyError(f'{key!r} is not a key of the official DAN model (yaoing/DAN '
                   f'networks/dan.py); is this a DAN checkpoint? See specs/dan.md §4')


def infer_dan_layout(state_dict: Dict[str, torch.Tensor]) -> Tuple[int, int]:
    """``(num_classes, num_heads)`` read from an official state dict (``fc.weight`` rows and
    the ``cat_head{h}`` indices, which must be 0..H−1)."""
    if 'fc.weight' not in state_dict:
        raise KeyError('official DAN state dict has no fc.weight; cannot tell the number of '
                       'classes (is this a DAN checkpoint?)')
    heads = sorted({int(m.group(1)) for k in state_dict
                    for m in [re.match(r'^cat_head(\d+)\.', k)] if m})
    if not heads or heads != list(range(len(heads))):
        raise KeyError(f'official DAN state dict has heads {heads}; expected cat_head0 .. '
                       f'cat_head{{H-1}}')
    return int(state_dict['fc.weight'].shape[0]), len(heads)


def expected_num_entries(num_heads: int) -> int:
    """Entries of an official ``model_state_dict``: 120 + 37·H + 7 (275 for H = 4)."""
    return BACKBONE_ENTRIES + HEAD_ENTRIES * num_heads + CLASSIFIER_ENTRIES


def dan_to_mmfer_state_dict(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename every key of an official DAN ``model_state_dict`` to mmfer's names.

    Raises ``KeyError`` on an unknown key, on two keys mapping to one name, and when the number
    of entries differs from 120 + 37·H + 7 (a missing key).  Shapes are checked against a model
    by :func:`check_state_dict` (see :func:`convert_dan_checkpoint`).
    """
    state_dict = strip_prefix(state_dict)
    unknown, out = [], OrderedDict()
    for key, value in state_dict.items():
        try:
            new = map_dan_key(key)
        except KeyError:
            unknown.append(key)
            continue
        if new in out:
            raise KeyError(f'two official keys map to {new!r}')
        out[new] = value
    if unknown:
        raise KeyError(f'{len(unknown)} keys of the checkpoint are not in the official DAN '
                       f'layout (leftover, not converted): {unknown[:20]}')
    _, num_heads = infer_dan_layout(state_dict)
    expected = expected_num_entries(num_heads)
    if len(out) != expected:
        raise KeyError(f'official DAN state dict with {num_heads} heads must have {expected} '
                       f'entries (120 backbone + 37 per head + 7 fc/bn), got {len(out)}; the '
                       f'file is incomplete or not a DAN checkpoint')
    return out


def dan_classes(dataset: str) -> Tuple[str, ...]:
    """Class names in the order the official model predicts (RAF-DB or AffectNet order)."""
    from mmfer.datasets.class_maps import CLASS_ORDERS
    if dataset not in DAN_DATASETS:
        raise ValueError(f'dataset must be one of {sorted(DAN_DATASETS)}, got {dataset!r}')
    return tuple(CLASS_ORDERS[DAN_DATASETS[dataset][0]])


def convert_dan_checkpoint(checkpoint, dataset: str,
                           model: Optional[torch.nn.Module] = None,
                           source: str = 'checkpoint') -> dict:
    """Convert a loaded official DAN checkpoint into an mmfer checkpoint dict.

    Args:
        checkpoint: the loaded file (``{'iter', 'model_state_dict', ...}``) or a bare state dict.
        dataset: ``'rafdb'``, ``'affectnet7'`` or ``'affectnet8'`` — fixes the class order in
            ``meta`` (a 7-class DAN file does not say whether it is RAF-DB or AffectNet-7).
        model: an mmfer DAN model with the same C and H; when given, the converted dict must
            match it exactly (missing / unexpected keys or shapes raise), loss state excepted.
        source: file name recorded in ``meta``.

    Returns:
        ``dict(state_dict=..., meta=dict(dataset_meta=dict(classes=...), classes=...,
        input_cfg=..., converted_from=...))``.
    """
    sd = extract_state_dict(checkpoint, source)
    try:
        num_classes, num_heads = infer_dan_layout(strip_prefix(sd))
    except KeyError as err:
        raise CheckpointMismatchError(f'{source}: {err.args[0]}', path=source) from None
    classes = dan_classes(dataset)
    if len(classes) != num_classes:
        raise ValueError(f'{source}: the checkpoint has {num_classes} classes but dataset '
                         f'{dataset!r} has {len(classes)} ({list(classes)}); pass the matching '
                         f'--dataset')
    try:
        new_sd = dan_to_mmfer_state_dict(sd)
    except CheckpointMismatchError:
        raise
    except KeyError as err:
        raise CheckpointMismatchError(f'{source}: {err.args[0]}', path=source) from None
    if model is not None:
        check_state_dict(model, new_sd, source=source, ignore=LOSS_STATE_IGNORE)
    epoch = checkpoint.get('iter') if isinstance(checkpoint, dict) else None
    meta = dict(
        dataset_meta=dict(classes=list(classes)),
        classes=list(classes),
        input_cfg=copy.deepcopy(INPUT_CFG),
        converted_from=dict(source='yaoing/DAN official checkpoint', file=osp.basename(source),
                            epoch=int(epoch) if isinstance(epoch, (int, float)) else None,
                            num_classes=num_classes, num_heads=num_heads))
    return dict(state_dict=new_sd, meta=meta)
