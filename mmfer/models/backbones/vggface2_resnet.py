"""Caffe-style ResNet-50 / SE-ResNet-50 of VGGFace2 (``resnet50_ft`` / ``senet50_ft``).

Spec ``backbones.md`` §4. mmpretrain's ``ResNet(depth=50, style='caffe')`` and
``SEResNet(depth=50, style='caffe', se_ratio=16)`` already match these networks in every point
but one, checked against §4 (tests/test_models/test_backbones/test_vggface2_resnet.py):

=============================  ==========================  =================================
point (backbones.md §4)        VGGFace2 (Caffe)            mmpretrain 1.2.0, ``style='caffe'``
=============================  ==========================  =================================
stem conv                      7×7, s2, p3, no bias → BN   same (``conv1``, ``bn1``)
downsampling stride            first 1×1 conv (``conv1``)  same (``conv1_stride = stride``)
shortcut                       1×1 conv (stride) → BN      same (``downsample.0/1``)
SE gate (SE-ResNet)            GAP → 1×1 (C→C/16, bias) →  ``SELayer(ratio=16)``: ConvModule
                               ReLU → 1×1 (C/16→C, bias) → with ``bias='auto'`` = bias (no
                               sigmoid, after ``bn3``,     norm), ReLU / Sigmoid, applied
                               before the residual add     after ``norm3``, before the add
**stem max-pool**              3×3, s2, **padding 0,       3×3, s2, padding 1 (fixed)
                               ceil_mode=True**
=============================  ==========================  =================================

Both max-pools give 56×56 from the 112×112 stem output but sample shifted grids, so the
converted weights compute the published function only with the Caffe pool. The two classes
below are therefore mmpretrain's networks with that one stem option (``stem_pool='caffe'``,
the default here; ``'pytorch'`` gives mmpretrain's pool back) and ``style='caffe'`` as the
default. Parameter names are mmpretrain's (= torchvision's, plus ``se_layer.conv{1,2}.conv``),
so :mod:`mmfer.utils.converters.vggface2` maps the ``.pkl`` files 1:1 (SE keys renamed).

Counts (backbones.md §4.3, counted on the meta device in the tests): ResNet-50 23,508,032
parameters, SE-ResNet-50 26,039,024 (SE gates 2,530,992); with an FC 2048→7 23,522,375 /
26,053,367. Output at 224×224: N×2048×7×7 (``out_indices=(3, )``).
"""
import torch.nn as nn
from mmpretrain.models.backbones import ResNet, SEResNet

from mmfer.registry import MODELS

STEM_POOLS = ('caffe', 'pytorch')


def _set_stem_pool(model: nn.Module, stem_pool: str) -> None:
    if stem_pool not in STEM_POOLS:
        raise ValueError(f'{type(model).__name__}: stem_pool={stem_pool!r} is not one of '
                         f"{list(STEM_POOLS)} ('caffe': 3×3 s2 padding 0 ceil_mode, the VGGFace2 "
                         "network; 'pytorch': mmpretrain's padding-1 pool)")
    if stem_pool == 'caffe':
        model.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)


@MODELS.register_module()
class VGGFace2ResNet(ResNet):
    """mmpretrain ``ResNet`` with the Caffe stem max-pool: VGGFace2's ``resnet50_ft`` trunk.

    Args:
        depth (int): 50 for ``resnet50_ft`` (other depths build, with the same stem).
        style (str): ``'caffe'`` (default; stride on the first 1×1 conv) or ``'pytorch'``.
        stem_pool (str): ``'caffe'`` (default; MaxPool2d(3, 2, padding=0, ceil_mode=True)) or
            ``'pytorch'`` (mmpretrain's MaxPool2d(3, 2, padding=1)).
        **kwargs: the other arguments of mmpretrain's ``ResNet`` (``base_channels``,
            ``out_indices``, ``frozen_stages``, ``norm_eval`` ...).
    """

    def __init__(self, depth: int = 50, style: str = 'caffe', stem_pool: str = 'caffe',
                 **kwargs):
        super().__init__(depth=depth, style=style, **kwargs)
        self.stem_pool = stem_pool
        _set_stem_pool(self, stem_pool)


@MODELS.register_module()
class VGGFace2SEResNet(SEResNet):
    """mmpretrain ``SEResNet`` with the Caffe stem max-pool: VGGFace2's ``senet50_ft`` trunk,
    the DacFER backbone (its SE gates are the paper's "local attention correction").

    Args:
        depth (int): 50 for ``senet50_ft``.
        se_ratio (int): squeeze ratio of the SE gates; 16 (C → C/16 → C).
        style (str): ``'caffe'`` (default) or ``'pytorch'``.
        stem_pool (str): ``'caffe'`` (default) or ``'pytorch'``, as :class:`VGGFace2ResNet`.
        **kwargs: the other arguments of mmpretrain's ``SEResNet``.
    """

    def __init__(self, depth: int = 50, se_ratio: int = 16, style: str = 'caffe',
                 stem_pool: str = 'caffe', **kwargs):
        super().__init__(depth=depth, se_ratio=se_ratio, style=style, **kwargs)
        self.stem_pool = stem_pool
        _set_stem_pool(self, stem_pool)
