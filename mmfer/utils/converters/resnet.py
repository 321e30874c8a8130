"""torchvision-layout ResNet-18 weights (e.g. MS-Celeb-1M ``resnet18_msceleb.pth``) → mmfer.

backbones.md §3: the file is a dict with the weights under ``'state_dict'`` (other top-level keys
ignored), plain torchvision names without ``module.`` prefix, 122 entries [102] including the
1000-way ``fc``.  mmpretrain's ``ResNet(depth=18)`` uses the same names, so the conversion is the
identity map plus the declared drop of ``fc.*`` and the ``backbone.`` prefix of a classifier.
Files without ``num_batches_tracked`` buffers are accepted: the buffers are added with the value
a fresh BatchNorm has (0; only read when ``momentum=None``), and the conversion says so.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

from mmfer.utils.checkpoint import (CheckpointMismatchError, check_state_dict,
                                    extract_state_dict, strip_prefix)

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_TV_RESNET18 = re.compile(
    r'^(conv1\.weight|bn1\.' + _BN + r'|layer[1-4]\.[01]\.(conv[12]\.weight|bn[12]\.' + _BN
    + r')|layer[2-4]\.0\.downsample\.(0\.weight|1\.' + _BN + r'))$')
#: declared drops: the 1000-way face-identity classifier
DROPPED = re.compile(r'^fc\.(weight|bias)$')


def resnet18_tv_to_mmfer(state_dict: Dict[str, torch.Tensor], prefix: str = 'backbone.'
                         ) -> Tuple['OrderedDict[str, torch.Tensor]', List[str], List[str]]:
    """Map a torchvision ResNet-18 state dict to mmpretrain ``ResNet(18)`` names under ``prefix``.

    Returns ``(state_dict, dropped_keys, added_keys)``; ``added_keys`` are the
    ``num_batches_tracked`` buffers the file lacked.  Raises ``KeyError`` for any key that is
    neither a ResNet-18 key nor a declared drop (``fc.*``), and for a file that lacks any other
    ResNet-18 key (checked against mmpretrain's ResNet-18).
    """
    from mmpretrain.models import ResNet
    state_dict = strip_prefix(state_dict)
    unknown = [k for k in state_dict if not (_TV_RESNET18.match(k) or DROPPED.match(k))]
    if unknown:
        raise KeyError(f'{len(unknown)} keys are not torchvision ResNet-18 keys (nor the declared '
                       f'fc.* drop): {unknown[:20]}; is this a ResNet-18 file?')
    dropped = [k for k in state_dict if DROPPED.match(k)]
    sd = OrderedDict((k, v) for k, v in state_dict.items() if not DROPPED.match(k))
    added = []
    for k in list(sd):
        if k.endswith('.running_var'):
            nbt = k[:-len('running_var')] + 'num_batches_tracked'
            if nbt not in sd:
                sd[nbt] = torch.tensor(0, dtype=torch.long)
                added.append(nbt)
    check_state_dict(ResNet(depth=18), sd, source='ResNet-18 weights')
    return OrderedDict((prefix + k, v) for k, v in sd.items()), dropped, added


def convert_resnet18_checkpoint(checkpoint, prefix: str = 'backbone.',
                                source: str = 'checkpoint') -> dict:
    """Convert a loaded MS-Celeb ResNet-18 file into ``dict(state_dict=..., meta=...)``."""
    try:
        sd, dropped, added = resnet18_tv_to_mmfer(extract_state_dict(checkpoint, source),
                                                  prefix=prefix)
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(str(err).replace('ResNet-18 weights', source, 1),
                                      path=source) from None
    except KeyError as err:
        raise CheckpointMismatchError(f'{source}: {err.args[0]}', path=source) from None
    meta = dict(converted_from=dict(source='torchvision-layout ResNet-18 (MS-Celeb-1M)',
                                    file=source, dropped=dropped,
                                    added_num_batches_tracked=len(added), prefix=prefix))
    return dict(state_dict=sd, meta=meta)
