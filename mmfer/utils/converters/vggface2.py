"""VGGFace2 ``resnet50_ft_weight.pkl`` / ``senet50_ft_weight.pkl`` → mmfer (backbones.md §4.4).

The files (cydonia999/VGGFace2-pytorch) are Python-2 pickles of a plain dict name → numpy
array; :func:`mmfer.utils.checkpoint.numpy_pickle_load` reads them (numpy arrays only,
``encoding='latin1'``). Their names are torchvision's, which mmpretrain's ResNet uses too, so
the map is the identity except

==========================================  ================================================
file key                                    mmfer key (under ``prefix``, default ``backbone.``)
==========================================  ================================================
``layerX.Y.conv4.{weight,bias}`` (SE, C→C/16)  ``layerX.Y.se_layer.conv1.conv.{weight,bias}``
``layerX.Y.conv5.{weight,bias}`` (SE, C/16→C)  ``layerX.Y.se_layer.conv2.conv.{weight,bias}``
``fc.{weight,bias}`` (8631 identities)      dropped (declared in the result's ``meta``)
==========================================  ================================================

The result is checked strictly against :class:`~mmfer.models.backbones.VGGFace2ResNet` /
:class:`~mmfer.models.backbones.VGGFace2SEResNet` (names and shapes); any other key is an error.
Files without ``num_batches_tracked`` (the Caffe conversion has none: 267 / 331 entries with
``fc``) get them with a fresh BatchNorm's value 0 (read only with ``momentum=None``), declared.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from mmfer.utils.checkpoint import CheckpointMismatchError, check_state_dict

ARCHS = {'resnet50': 'VGGFace2ResNet', 'senet50': 'VGGFace2SEResNet'}
_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_FILE_KEY = re.compile(
    r'^(conv1\.weight|bn1\.' + _BN + r'|layer[1-4]\.\d+\.(conv[123]\.weight|bn[123]\.' + _BN
    + r'|conv[45]\.(weight|bias)|downsample\.(0\.weight|1\.' + _BN + r')))$')
_SE_KEY = re.compile(r'^(layer[1-4]\.\d+)\.conv([45])\.(weight|bias)$')
#: declared drop: the 8631-way VGGFace2 identity classifier
DROPPED = re.compile(r'^fc\.(weight|bias)$')
#: bottlenecks per stage of the depth-50 networks
STAGE_BLOCKS = (3, 4, 6, 3)


def detect_arch(keys) -> str:
    """``'senet50'`` when the file has SE keys (``conv4`` / ``conv5``), else ``'resnet50'``."""
    return 'senet50' if any(_SE_KEY.match(k) for k in keys) else 'resnet50'


def map_key(key: str) -> str:
    """File key → mmpretrain key (without prefix); raises ``KeyError`` for an unknown key."""
    if not _FILE_KEY.match(key):
        raise KeyError(key)
    m = _SE_KEY.match(key)
    if m:
        return f'{m.group(1)}.se_layer.conv{int(m.group(2)) - 3}.conv.{m.group(3)}'
    return key


def build_backbone(arch: str, width: int = 64) -> torch.nn.Module:
    """The mmfer backbone a file of ``arch`` loads into (``width``: stem and base channels,
    64 for the released networks; smaller only for tests)."""
    from mmfer.models.backbones.vggface2_resnet import VGGFace2ResNet, VGGFace2SEResNet
    cls = VGGFace2SEResNet if arch == 'senet50' else VGGFace2ResNet
    return cls(depth=50, stem_channels=width, base_channels=width)


def vggface2_key_list(arch: str = 'senet50', with_fc: bool = True,
                      num_batches_tracked: bool = False) -> List[str]:
    """The keys of an official VGGFace2 file (torchvision order; for tests and docs)."""
    bn = ['weight', 'bias', 'running_mean', 'running_var'] + \
        (['num_batches_tracked'] if num_batches_tracked else [])
    keys = ['conv1.weight'] + [f'bn1.{s}' for s in bn]
    for stage, blocks in enumerate(STAGE_BLOCKS, 1):
        for b in range(blocks):
            p = f'layer{stage}.{b}'
            for i in (1, 2, 3):
                keys += [f'{p}.conv{i}.weight'] + [f'{p}.bn{i}.{s}' for s in bn]
            if arch == 'senet50':
                keys += [f'{p}.conv4.weight', f'{p}.conv4.bias', f'{p}.conv5.weight',
                         f'{p}.conv5.bias']
            if b == 0:
                keys += [f'{p}.downsample.0.weight'] + [f'{p}.downsample.1.{s}' for s in bn]
    return keys + (['fc.weight', 'fc.bias'] if with_fc else [])


def vggface2_to_mmfer(weights: Dict[str, np.ndarray], arch: Optional[str] = None,
                      prefix: str = 'backbone.', width: int = 64, source: str = 'VGGFace2 file'
                      ) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Map a VGGFace2 weight dict (numpy arrays or tensors) to mmfer keys under ``prefix``.

    Returns ``(state_dict, info)`` with ``info = dict(arch, dropped, renamed,
    added_num_batches_tracked)``. Raises :class:`CheckpointMismatchError` naming ``source`` for
    an unknown key, a file of the other architecture than ``arch``, or any missing / mis-shaped
    key against the mmfer backbone.
    """
    found = detect_arch(weights)
    arch = arch or found
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r}: use one of {list(ARCHS)} (or None to detect)")
    if arch != found:
        raise CheckpointMismatchError(
            f'{source}: a {found} file (SE keys conv4/conv5 '
            f'{"present" if found == "senet50" else "absent"}) was given for arch={arch!r}; '
            f'use --arch {found} (or leave it to detection)', path=source)
    unknown = [k for k in weights if not (_FILE_KEY.match(k) or DROPPED.match(k))]
    if unknown:
        raise CheckpointMismatchError(
            f'{source}: {len(unknown)} keys are neither VGGFace2 {arch}_ft keys nor the declared '
            f'fc.* drop: {unknown[:20]}. Is this resnet50_ft_weight.pkl / senet50_ft_weight.pkl?',
            path=source)
    dropped = [k for k in weights if DROPPED.match(k)]
    sd: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    renamed = 0
    for k, v in weights.items():
        if DROPPED.match(k):
            continue
        new = map_key(k)
        renamed += new != k
        t = torch.from_numpy(np.array(v, copy=True)) if isinstance(v, np.ndarray) else \
            torch.as_tensor(v).clone()
        if new.endswith('num_batches_tracked'):
            t = t.to(torch.long).reshape(())
        sd[new] = t
    added = []
    for k in list(sd):
        if k.endswith('.running_var'):
            nbt = k[:-len('running_var')] + 'num_batches_tracked'
            if nbt not in sd:
                sd[nbt] = torch.tensor(0, dtype=torch.long)
                added.append(nbt)
    check_state_dict(build_backbone(arch, width), sd, source=source,
                     fix=f'The file does not match VGGFace2 {arch}_ft (backbones.md §4); mmfer '
                         'never loads a partial match.')
    info = dict(arch=arch, dropped=dropped, renamed=renamed, added_num_batches_tracked=len(added))
    return OrderedDict((prefix + k, v) for k, v in sd.items()), info


def convert_vggface2_checkpoint(weights: Dict[str, np.ndarray], arch: Optional[str] = None,
                                prefix: str = 'backbone.', width: int = 64,
                                source: str = 'VGGFace2 file') -> dict:
    """Convert a loaded VGGFace2 weight dict into ``dict(state_dict=..., meta=...)``."""
    sd, info = vggface2_to_mmfer(weights, arch=arch, prefix=prefix, width=width, source=source)
    meta = dict(converted_from=dict(
        source=f'VGGFace2 {info["arch"]}_ft (Caffe conversion, cydonia999/VGGFace2-pytorch)',
        file=source, dropped=info['dropped'], renamed_se_keys=info['renamed'],
        added_num_batches_tracked=info['added_num_batches_tracked'], entries=len(sd),
        prefix=prefix, target=dict(type=ARCHS[info['arch']], depth=50)))
    return dict(state_dict=sd, meta=meta)
