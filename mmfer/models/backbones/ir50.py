"""IR-50/100/152: the "improved residual" face-recognition network of face.evoLVe.

This is the MS-Celeb-1M-pretrained trunk of POSTER, POSTER++, QCS/DCS and PCDA
(``docs/backbones.md``, spec ``backbones.md`` §1). mmpretrain has no such network (its ResNets are
post-activation with a stem max-pool), so it is written here; the module and parameter names are
those of the ``ir50.pth`` file distributed with POSTER_V2/QCS (layout A: ``input_layer``,
``body1`` … ``body4``, ``output_layer``), so that file maps 1:1.

Structure (input N×3×112×112, no max-pool, resolution halves in the first unit of each stage)::

    input_layer : Conv3×3(3→64, s1, no bias) → BN(64) → PReLU(64)          N×64×112×112
    body1       : 3 units  64→64,  first stride 2                          N×64×56×56
    body2       : 4 units  64→128, first stride 2                          N×128×28×28
    body3       : 14 units 128→256, first stride 2                         N×256×14×14
    body4       : 3 units  256→512, first stride 2   (only num_stages=4)   N×512×7×7
    output_layer: BN2d → Dropout → Flatten → Linear(25088→512) → BN1d      N×512
                  (only with_output_layer=True; no FER method uses it)

Unit ``bottleneck_IR(in, out, s)``::

    y = res_layer(x) + shortcut_layer(x)          (no activation after the sum)
    res_layer     = BN(in) → Conv3×3(in→out, s1) → PReLU(out) → Conv3×3(out→out, s) → BN(out)
    shortcut_layer = MaxPool(k=1, s)                         if in == out
                   = Conv1×1(in→out, s, no bias) → BN(out)   otherwise
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.backbones.base_backbone import BaseBackbone

from mmfer.registry import MODELS

#: units per stage for each depth (backbones.md §1.1)
IR_STAGE_UNITS = {
    50: (3, 4, 14, 3),
    100: (3, 13, 30, 3),
    152: (3, 8, 36, 3),
}
#: output channels per stage multiplier of ``base_channels`` (64, 128, 256, 512 for IR-50)
IR_STAGE_WIDTHS = (1, 2, 4, 8)


class Flatten(nn.Module):
    """N×C×H×W → N×(C·H·W) (parameter-free; kept as a module for the checkpoint's indices)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class BottleneckIR(nn.Module):
    """One pre-activation IR unit: ``res_layer(x) + shortcut_layer(x)``.

    Args:
        in_channels (int): channels of x (N×in×H×W).
        out_channels (int): channels of the output (N×out×H/s×W/s).
        stride (int): stride of the unit; it sits on the *second* 3×3 conv of the residual
            branch and on the shortcut.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if in_channels == out_channels:
            # parameter-free: identity (stride 1) or sub-sampling of every s-th pixel (stride 2)
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


#: the official class name, kept as an alias for readers comparing with face.evoLVe / POSTER
bottleneck_IR = BottleneckIR


@MODELS.register_module()
class IResNet(BaseBackbone):
    """IR-50/100/152 trunk returning a tuple of stage outputs.

    Args:
        depth (int): 50, 100 or 152 (units per stage 3-4-14-3, 3-13-30-3, 3-8-36-3).
        num_stages (int): 3 (POSTER++/QCS/PCDA truncation: ``body1..body3`` only, 17,611,968
            params for depth 50) or 4. With 3 stages neither stage 4 nor the output layer is
            built — no dead modules.
        out_indices (Sequence[int]): which stage outputs to return (0-based; negative indices
            count from the last stage). Default (0, 1, 2): at 112×112 input the maps
            N×64×56×56, N×128×28×28, N×256×14×14.
        input_resize (int, optional): if set, the input is first resized to
            ``input_resize × input_resize`` with ``F.interpolate(mode=resize_mode)``. POSTER++/QCS
            feed 224×224 images and use 112 with ``'nearest'``, which for 224→112 picks the even
            pixels, i.e. equals ``x[..., ::2, ::2]``. None (default): no resize (PCDA).
        resize_mode (str): interpolation mode of ``input_resize``. Default ``'nearest'`` (official).
        with_output_layer (bool): build face.evoLVe's embedding layer (needs ``num_stages=4`` and
            a 7×7 stage-4 map, i.e. a 112 input). Its N×512 output is appended to the returned
            tuple after the selected stage outputs. Default False.
        output_dropout (float): dropout of the output layer (face.evoLVe's ``Dropout()``, 0.5).
        base_channels (int): width of the input layer and stage 1; stage s has
            ``base_channels · 2^(s-1)`` channels. 64 (default) is the published network and the
            only width the pretrained weights fit; smaller values are for tiny CPU experiments
            and tests (e.g. 16 → 1/16 of the parameters and MACs).
        pretrained (str, optional): an IR checkpoint (``ir50.pth`` layout A or B, an mmfer
            conversion, or a QCS/POSTER checkpoint whose ``ir_back.*`` entries hold the trunk)
            loaded *strictly* at :meth:`init_weights` through
            :func:`mmfer.utils.checkpoint.load_pretrained` (weights-only reading) and the
            ``ir50`` converter's mapping — layout detected and mapped, declared
            drops logged, anything else missing/unexpected/mis-shaped raises. Use this instead of
            mmengine's tolerant ``init_cfg=dict(type='Pretrained')``.
        frozen_stages (int): as mmpretrain's ResNet: -1 (default) freezes nothing; 0 freezes the
            input layer; k ≥ 1 the input layer and ``body1..body{k}`` (``requires_grad=False``
            and eval mode through ``train()``).
        norm_eval (bool): keep every BatchNorm in eval mode during training (running
            statistics neither used from the batch nor updated). Default False.
        init_cfg (dict, optional): mmengine init config. Default None: PyTorch default
            initialisation (as the POSTER-family code; face.evoLVe's Xavier init is not used —
            spec choice).
    """

    def __init__(self,
                 depth: int = 50,
                 num_stages: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2),
                 input_resize: Optional[int] = None,
                 resize_mode: str = 'nearest',
                 with_output_layer: bool = False,
                 output_dropout: float = 0.5,
                 base_channels: int = 64,
                 pretrained: Optional[str] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'IResNet: frozen_stages must be -1..num_stages={num_stages}, got '
                             f'{frozen_stages}')
        if depth not in IR_STAGE_UNITS:
            raise ValueError(f'IResNet: depth must be one of {sorted(IR_STAGE_UNITS)}, got {depth}')
        if num_stages not in (1, 2, 3, 4):
            raise ValueError(f'IResNet: num_stages must be 1..4, got {num_stages}')
        if with_output_layer and num_stages != 4:
            raise ValueError('IResNet: with_output_layer=True needs num_stages=4 (the output '
                             f'layer reads the 512×7×7 stage-4 map); got num_stages={num_stages}')
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        norm_indices = []
        for i in out_indices:
            j = i + num_stages if i < 0 else i
            if not 0 <= j < num_stages:
                raise ValueError(f'IResNet: out_index {i} is outside the {num_stages} built '
                                 'stages; use indices 0..num_stages-1')
            norm_indices.append(j)
        self.depth = depth
        self.num_stages = num_stages
        self.out_indices = tuple(norm_indices)
        self.input_resize = input_resize
        self.resize_mode = resize_mode
        self.with_output_layer = with_output_layer
        self.pretrained = pretrained
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.stage_units = IR_STAGE_UNITS[depth][:num_stages]
        self.base_channels = base_channels
        self.stage_channels = tuple(base_channels * w for w in IR_STAGE_WIDTHS[:num_stages])

        self.input_layer = nn.Sequential(
            nn.Conv2d(3, base_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(base_channels),
            nn.PReLU(base_channels))
        in_ch = base_channels
        for s, (n_units, out_ch) in enumerate(zip(self.stage_units, self.stage_channels)):
            units = [BottleneckIR(in_ch, out_ch, 2)]
            units += [BottleneckIR(out_ch, out_ch, 1) for _ in range(n_units - 1)]
            self.add_module(f'body{s + 1}', nn.Sequential(*units))
            in_ch = out_ch
        if with_output_layer:
            c4 = self.stage_channels[-1]
            self.output_layer = nn.Sequential(
                nn.BatchNorm2d(c4), nn.Dropout(output_dropout), Flatten(),
                nn.Linear(c4 * 7 * 7, 512), nn.BatchNorm1d(512))
        for m in self.frozen_modules():
            m.requires_grad_(False)

    @property
    def stage_names(self) -> Tuple[str, ...]:
        return tuple(f'body{s + 1}' for s in range(self.num_stages))

    def frozen_modules(self) -> list:
        """The input layer and the first ``frozen_stages`` stages (empty for -1)."""
        if self.frozen_stages < 0:
            return []
        return [self.input_layer] + [getattr(self, f'body{s + 1}')
                                     for s in range(self.frozen_stages)]

    def train(self, mode: bool = True):
        # mmpretrain's BaseBackbone.train returns None; keep nn.Module's chaining contract
        super().train(mode)
        if mode:
            for m in self.frozen_modules():
                m.eval()
            if self.norm_eval:
                for m in self.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self

    def init_weights(self):
        super().init_weights()
        if self.pretrained:
            # read by mmfer's one checkpoint module; it hands the mapping to the ir50
            # converter at call time (backbones never import converters: no import cycle)
            from mmfer.utils.checkpoint import load_pretrained
            load_pretrained(self, self.pretrained, converter='ir50')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """N×3×H×W → tuple of the ``out_indices`` stage maps (+ N×512 embedding if built)."""
        if self.input_resize is not None:
            x = F.interpolate(x, size=self.input_resize, mode=self.resize_mode)
        x = self.input_layer(x)
        outs = []
        for s, name in enumerate(self.stage_names):
            x = getattr(self, name)(x)
            if s in self.out_indices:
                outs.append(x)
        if self.with_output_layer:
            outs.append(self.output_layer(x))
        return tuple(outs)
