"""MobileFaceNet-136: the 68-point facial-landmark network of cunjian/pytorch_face_landmark.

The same architecture is copied into POSTER and POSTER++; PCDA uses it, frozen, as its landmark
backbone (spec ``backbones.md`` §2, ``pcda.md`` §2). mmpretrain has no such network, so it is
written here with the module and parameter names of ``mobilefacenet_model_best.pth.tar``
(333 state-dict entries), so that file loads 1:1 (converter:
``tools/model_converters/mobilefacenet_to_mmfer.py``).

Layers at 112×112 input (``width_mult=1``; 1,007,248 parameters, 0.221 GMACs conv + linear)::

    conv1       Conv_block 3×3 s2, 3→64                         N×64×56×56
    conv2_dw    Conv_block 3×3 depthwise 64, s1                 N×64×56×56
    conv_23     Depth_Wise 64→64, s2, expansion 128             N×64×28×28
    conv_3      Residual ×4, c 64, expansion 128                N×64×28×28   (POSTER++ tap)
    conv_34     Depth_Wise 64→128, s2, expansion 256            N×128×14×14
    conv_4      Residual ×6, c 128, expansion 256               N×128×14×14  (PCDA f_lm)
    conv_45     Depth_Wise 128→128, s2, expansion 512           N×128×7×7
    conv_5      Residual ×2, c 128, expansion 256               N×128×7×7
    conv_6_sep  Conv_block 1×1 128→512                          N×512×7×7    (POSTER tap)
    output_layer GDC: Linear_block 7×7 depthwise → flatten → Linear(512→136, no bias) → BN1d
                                                                N×136        (landmarks)

Blocks: ``Conv_block`` = conv (no bias) → bn → prelu; ``Linear_block`` = conv (no bias) → bn;
``Depth_Wise`` = 1×1 expansion Conv_block → k×k depthwise Conv_block (stride s) → 1×1 projection
Linear_block, plus the input when residual; ``Residual`` = ``model``, a Sequential of residual
Depth_Wise blocks.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.backbones.base_backbone import BaseBackbone

from mmfer.registry import MODELS

#: the module names of the trunk, in forward order (``output_layer`` is the GDC landmark head)
MFN_STAGES = ('conv1', 'conv2_dw', 'conv_23', 'conv_3', 'conv_34', 'conv_4', 'conv_45',
              'conv_5', 'conv_6_sep', 'output_layer')
#: ``out_names`` aliases
MFN_ALIASES = {'landmarks': 'output_layer'}
#: ImageNet mean / std on 0..255 RGB (what mmfer's data preprocessors normalise with)
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
BN_MODES = ('eval', 'train')


class ConvBlock(nn.Module):
    """``Conv_block``: Conv2d (no bias) → BatchNorm2d → PReLU(out)."""

    def __init__(self, in_c: int, out_c: int, kernel=1, stride=1, padding=0, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)
        self.prelu = nn.PReLU(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


class LinearBlock(nn.Module):
    """``Linear_block``: Conv2d (no bias) → BatchNorm2d, no activation."""

    def __init__(self, in_c: int, out_c: int, kernel=1, stride=1, padding=0, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class DepthWise(nn.Module):
    """``Depth_Wise``: y = project(conv_dw(conv(x))) (+ x when ``residual``).

    conv: 1×1 in→g Conv_block; conv_dw: k×k depthwise g→g, stride s; project: 1×1 g→out
    Linear_block. ``residual`` needs in == out and stride 1.
    """

    def __init__(self, in_c: int, out_c: int, residual: bool = False, kernel=3, stride=2,
                 padding=1, groups: int = 1):
        super().__init__()
        if residual and (in_c != out_c or stride != 1):
            raise ValueError(f'DepthWise: a residual block needs in == out and stride 1, got '
                             f'{in_c}→{out_c}, stride {stride}')
        self.conv = ConvBlock(in_c, groups, 1, 1, 0)
        self.conv_dw = ConvBlock(groups, groups, kernel, stride, padding, groups=groups)
        self.project = LinearBlock(groups, out_c, 1, 1, 0)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class ResidualStack(nn.Module):
    """``Residual``: ``model`` = num_block residual Depth_Wise(c→c, stride 1, expansion g)."""

    def __init__(self, c: int, num_block: int, groups: int):
        super().__init__()
        self.model = nn.Sequential(*[DepthWise(c, c, True, 3, 1, 1, groups)
                                     for _ in range(num_block)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Flatten(nn.Module):
    """N×C×1×1 → N×C (kept as a module: the official GDC has ``conv_6_flatten``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class GDC(nn.Module):
    """Global depthwise-conv head: k×k depthwise Linear_block (no padding) → flatten →
    Linear(C→embedding, no bias) → BatchNorm1d(embedding). Needs a k×k input map (k = 7, the
    published head: 112 input)."""

    def __init__(self, channels: int, embedding: int, kernel: int = 7):
        super().__init__()
        self.conv_6_dw = LinearBlock(channels, channels, kernel, 1, 0, groups=channels)
        self.conv_6_flatten = Flatten()
        self.linear = nn.Linear(channels, embedding, bias=False)
        self.bn = nn.BatchNorm1d(embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.linear(self.conv_6_flatten(self.conv_6_dw(x))))


@MODELS.register_module()
class MobileFaceNet(BaseBackbone):
    """MobileFaceNet landmark network returning a tuple of the maps named in ``out_names``.

    Args:
        out_names (Sequence[str]): which outputs to return, in this order: any of
            ``conv1`` … ``conv_6_sep`` (the trunk modules, see the module docstring) and
            ``output_layer`` / ``landmarks`` (the N×136 GDC output). Default ``('conv_4', )``:
            PCDA's f_lm, N×128×14×14 at 112 input. POSTER++ taps
            ``('conv_3', 'conv_4', 'conv_6_sep')``.
        num_landmarks (int): landmark outputs of the GDC head (136 = 68 × (x, y)).
        width_mult (float): scales every width (64, 128, 512 channels and the 128/256/512
            expansions); 1 (default) is the published network, the only width its weights fit;
            smaller values are for tiny CPU experiments and tests.
        gdc_kernel (int): side of the GDC head's depthwise kernel, which must equal the side
            of the conv_6_sep map (input side / 16): 7 (default) is the published network at
            112×112; e.g. 4 for a 64×64 CPU variant (configs/landmarks/
            mobilefacenet_synthfer_64.py). Only the shape of
            ``output_layer.conv_6_dw.conv.weight`` changes; key names stay the checkpoint's.
        run_all (bool): run the whole network, GDC head included, even when the last requested
            tap comes earlier — what the original forward does and what the PCDA paper's 0.2 G
            budget counts (default True). ``False`` stops after the last requested output (e.g.
            for inputs whose conv_6_sep map is not gdc_kernel², where the GDC head cannot run).
        landmark_input (str): how the input tensor is prepared (backbones.md §2.4):
            ``'imagenet'`` (default): used as given — the ImageNet-normalised RGB tensor the
            image backbone receives (POSTER++ style); ``'native'``: converted back to what the
            detector was trained on, BGR in [0, 1] without mean/std: x · std + mean, ÷ 255,
            channels reversed (``mean``/``std`` are those the data preprocessor used).
        mean, std (Sequence[float]): the data preprocessor's normalisation on 0..255 RGB, used
            only by ``landmark_input='native'``. Default ImageNet.
        bn_mode (str): ``'eval'`` (default) or ``'train'``. Frozen use is the classifier's
            mechanism, ``FERClassifier(aux_nets=dict(landmark=dict(type='MobileFaceNet',
            frozen=True)))``: requires_grad False, no-grad forward, out of the optimizer and
            **eval mode kept through model.train()** — BatchNorm statistics never move
            (backbones.md §2.4, the mmfer default). ``bn_mode='train'`` overrides only that
            last point, to reproduce the POSTER-family drift (its code sets requires_grad False
            but never calls ``.eval()``): the classifier keeps the network in eval mode and then
            calls :meth:`frozen_train`, which puts the BatchNorm layers back into the mode the
            model was set to — during ``model.train()`` they normalise with batch statistics
            and update their running statistics (under no-grad), after ``model.eval()`` they
            use the drifted statistics. Weights still never change. Standalone (not an
            auxiliary network) both modes behave as a plain module.
        init_cfg (dict, optional): mmengine init config; default PyTorch's initialisation.
            Load the pretrained detector with the classifier's
            ``aux_nets.<name>.pretrained`` (strict, through mmfer.utils.checkpoint).
    """

    def __init__(self, out_names: Sequence[str] = ('conv_4', ), num_landmarks: int = 136,
                 width_mult: float = 1.0, gdc_kernel: int = 7, run_all: bool = True,
                 landmark_input: str = 'imagenet', mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, bn_mode: str = 'eval',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(out_names, str):
            out_names = (out_names, )
        names = []
        for n in out_names:
            n = MFN_ALIASES.get(n, n)
            if n not in MFN_STAGES:
                raise ValueError(f'MobileFaceNet: unknown out_name {n!r}; choose from '
                                 f'{list(MFN_STAGES) + list(MFN_ALIASES)}')
            names.append(n)
        if not names:
            raise ValueError('MobileFaceNet: out_names is empty; name at least one output '
                             "(e.g. ('conv_4',) for PCDA)")
        if landmark_input not in ('imagenet', 'native'):
            raise ValueError(f"MobileFaceNet: landmark_input must be 'imagenet' or 'native', "
                             f'got {landmark_input!r}')
        if bn_mode not in BN_MODES:
            raise ValueError(f'MobileFaceNet: bn_mode must be one of {list(BN_MODES)}, got '
                             f'{bn_mode!r}')
        self.out_names = tuple(names)
        self.run_all = run_all
        self.landmark_input = landmark_input
        self.bn_mode = bn_mode
        self.width_mult = width_mult
        self.gdc_kernel = int(gdc_kernel)
        self.register_buffer('input_mean', torch.tensor(mean, dtype=torch.float).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('input_std', torch.tensor(std, dtype=torch.float).view(1, 3, 1, 1),
                             persistent=False)

        def w(c: int) -> int:
            return max(1, int(round(c * width_mult)))

        c1, c2, c3 = w(64), w(128), w(512)
        self.channels: Dict[str, int] = dict(conv1=c1, conv2_dw=c1, conv_23=c1, conv_3=c1,
                                             conv_34=c2, conv_4=c2, conv_45=c2, conv_5=c2,
                                             conv_6_sep=c3, output_layer=num_landmarks)
        self.conv1 = ConvBlock(3, c1, 3, 2, 1)
        self.conv2_dw = ConvBlock(c1, c1, 3, 1, 1, groups=c1)
        self.conv_23 = DepthWise(c1, c1, False, 3, 2, 1, groups=w(128))
        self.conv_3 = ResidualStack(c1, 4, groups=w(128))
        self.conv_34 = DepthWise(c1, c2, False, 3, 2, 1, groups=w(256))
        self.conv_4 = ResidualStack(c2, 6, groups=w(256))
        self.conv_45 = DepthWise(c2, c2, False, 3, 2, 1, groups=w(512))
        self.conv_5 = ResidualStack(c2, 2, groups=w(256))
        self.conv_6_sep = ConvBlock(c2, c3, 1, 1, 0)
        self.output_layer = GDC(c3, num_landmarks, self.gdc_kernel)
        last = max(MFN_STAGES.index(n) for n in self.out_names)
        self._run = MFN_STAGES if run_all else MFN_STAGES[:last + 1]

    # ------------------------------------------------------------------------------------------
    def frozen_train(self, mode: bool) -> None:
        """Called by ``FERClassifier.train(mode)`` after it has put this frozen auxiliary
        network into eval mode: with ``bn_mode='train'`` the BatchNorm layers follow ``mode``
        (the POSTER-family drift); with ``'eval'`` nothing changes."""
        if self.bn_mode != 'train':
            return
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train(mode)

    def train(self, mode: bool = True):
        # mmpretrain's BaseBackbone.train returns None; keep nn.Module's chaining contract
        nn.Module.train(self, mode)
        return self

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """The tensor the first conv sees (``landmark_input``)."""
        if self.landmark_input == 'imagenet':
            return x
        x = (x * self.input_std.to(x) + self.input_mean.to(x)) / 255.
        return x.flip(1)  # RGB → BGR

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """N×3×H×W → tuple of the ``out_names`` outputs (in that order)."""
        x = self.prepare_input(x)
        outs = {}
        for name in self._run:
            k = self.gdc_kernel
            if name == 'output_layer' and tuple(x.shape[-2:]) != (k, k):
                raise ValueError(
                    f'MobileFaceNet: the GDC landmark head (gdc_kernel={k}) needs a {k}×{k} '
                    f'conv_6_sep map ({16 * k}×{16 * k} input), got {tuple(x.shape[-2:])}. '
                    f'Feed {16 * k}×{16 * k} images, set gdc_kernel to the map side, or set '
                    "run_all=False and leave 'output_layer' out of out_names")
            x = getattr(self, name)(x)
            outs[name] = x
        return tuple(outs[n] for n in self.out_names)
