"""Counting engine (mmfer.utils.flops): MACs and parameters on hand-computable models."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmfer.utils.flops import (build_model_from_cfg, count_flops, count_model_flops,
                               format_count, load_config)

CONFIGS = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'configs')


class ConvFC(nn.Module):
    """Conv2d(3→4, k3, pad 1) on 8×8 → flatten (256) → Linear(256→5); an unused Linear(10→10)
    and a token parameter (4) owned by the root and added to the conv output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(256, 5)
        self.unused = nn.Linear(10, 10)
        self.token = nn.Parameter(torch.zeros(4))

    def forward(self, x):
        y = self.conv(x) + self.token.view(1, 4, 1, 1)
        return self.fc(y.flatten(1))


def test_hand_computed_macs_and_params():
    res = count_model_flops(ConvFC(), (3, 8, 8))
    conv = 8 * 8 * 4 * 3 * 9  # out pixels × C_out × C_in × k²
    fc = 256 * 5
    assert res.macs == conv + fc == 8192
    assert res.flops == 2 * res.macs
    assert res.macs_by_op == {'convolution': conv, 'addmm': fc}
    assert res.module('conv').macs == conv and res.module('fc').macs == fc
    assert res.module('').macs == conv + fc
    assert not res.module('unused').executed and res.module('unused').macs == 0
    p_conv, p_fc, p_unused, p_tok = 4 * 3 * 9 + 4, 256 * 5 + 5, 110, 4
    assert res.params['registered'] == p_conv + p_fc + p_unused + p_tok
    assert res.params['inference'] == p_conv + p_fc + p_tok  # token read, unused not
    assert res.params['leaf_executed'] == p_conv + p_fc  # thop-style misses the token
    assert sorted(res.unread_params) == ['unused.bias', 'unused.weight']
    rows = {m.name: m for m in res.top_level()}
    assert rows['(root ops)'].params_inference == p_tok and rows['(root ops)'].macs == 0


def test_batch_grouped_strided_conv():
    conv = nn.Conv2d(4, 8, 3, stride=2, groups=2, bias=False)
    res = count_flops(conv, torch.randn(3, 4, 9, 9))
    # out 3×8×4×4, each output sums (4/2)·3·3 products
    assert res.macs == 3 * 8 * 4 * 4 * 2 * 9
    assert res.params['inference'] == 8 * 2 * 9


def test_matmul_attention_and_vector_products():
    class M(nn.Module):
        def forward(self, x):  # x: 2×3×5×8
            a = torch.matmul(x, x.transpose(-1, -2))  # bmm 6×(5×8)·(8×5)
            b = F.scaled_dot_product_attention(x, x, x)  # 2·(2·3·5·5·8)
            c = torch.mv(x[0, 0], x[0, 0, 0])  # 5×8 · 8
            d = torch.dot(x[0, 0, 0], x[0, 0, 1])  # 8
            return a.sum() + b.sum() + c.sum() + d

    res = count_flops(M(), torch.randn(2, 3, 5, 8))
    assert res.macs == 6 * 5 * 8 * 5 + 2 * (6 * 5 * 5 * 8) + 5 * 8 + 8


def test_eval_mode_and_state_restored():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Linear(4, 4)
            self.train_only = nn.Linear(4, 4)

        def forward(self, x):
            y = self.main(x)
            return self.train_only(y) if self.training else y

    m = Gate().train()
    res = count_flops(m, torch.randn(2, 4))
    assert res.macs == 2 * 16 and res.params['inference'] == 20
    assert m.training  # restored
    assert count_flops(m, torch.randn(2, 4), eval_mode=False).macs == 2 * 2 * 16


def test_loss_state_excluded():
    from mmfer.registry import MODELS
    model = MODELS.build(dict(
        type='FERClassifier', data_preprocessor=dict(num_classes=3),
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
        head=dict(type='FERClsHead', num_classes=3, in_channels=64)))
    # give the head a loss that owns a parameter, like DAN's affinity centers (3×64)
    model.head.losses[0].centers = nn.Parameter(torch.zeros(3, 64))
    res = count_model_flops(model, (3, 32, 32))
    assert res.params['registered'] - res.params['model'] == 3 * 64
    assert res.params['inference'] == res.params['model']
    assert 'head.losses.0.centers' in res.unread_params


def _hook_macs(model, x):
    """Independent count: Σ over Conv2d of out.numel()·C_in/g·k_h·k_w + Σ Linear N·in·out."""
    total = []

    def conv_hook(m, inp, out):
        total.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0]
                     * m.kernel_size[1])

    def fc_hook(m, inp, out):
        total.append(out.numel() * m.in_features)

    hs = [m.register_forward_hook(conv_hook) for m in model.modules()
          if isinstance(m, nn.Conv2d)]
    hs += [m.register_forward_hook(fc_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    model.eval()
    with torch.no_grad():
        model(x, mode='tensor')
    for h in hs:
        h.remove()
    return sum(total)


def test_tiny_resnet_config_matches_hook_count():
    cfg = load_config(osp.join(CONFIGS, 'tiny_r18.py'))
    model = build_model_from_cfg(cfg)
    res = count_model_flops(model, (32, 32))
    assert res.input_shape == (1, 3, 32, 32)
    assert res.macs == _hook_macs(model, torch.randn(1, 3, 32, 32))
    top = {m.name: m for m in res.top_level()}
    assert top['backbone'].macs + top['head'].macs == res.macs
    assert top['head'].macs == 64 * 7
    assert res.params['inference'] == sum(p.numel() for p in model.parameters())
    assert not top['data_preprocessor'].executed


def test_resnet18_224_spec_numbers():
    """backbones.md §3: ResNet-18 without fc 11,176,512 params, 1.81 GMACs at 224."""
    from mmfer.registry import MODELS
    backbone = MODELS.build(dict(type='ResNet', depth=18))
    res = count_model_flops(backbone, (224, 224))
    assert res.params['inference'] == 11_176_512
    assert round(res.macs / 1e9, 2) == 1.81


def test_format_count():
    assert format_count(448) == '448'
    assert format_count(1_813_564_928, 'MACs') == '1.814 GMACs'


def test_load_config_missing_file():
    with pytest.raises(FileNotFoundError, match='config file not found'):
        load_config('no/such/config.py')
