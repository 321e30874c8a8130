"""IResNet (IR-50/100/152): layer counts, shapes, truncation, nearest resize (backbones.md §1)."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mmfer.models.backbones.ir50 import BottleneckIR, IResNet
from mmfer.registry import MODELS


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope='module')
def ir50():
    torch.manual_seed(0)
    return IResNet(depth=50, num_stages=3).eval()


def test_three_stage_parameter_counts(ir50):
    assert n_params(ir50) == 17_611_968
    assert n_params(ir50.input_layer) == 1_920
    assert n_params(ir50.body1) == 222_144
    assert n_params(ir50.body2) == 1_116_800
    assert n_params(ir50.body3) == 16_271_104
    # no dead modules: neither stage 4 nor the output layer exist
    assert not hasattr(ir50, 'body4') and not hasattr(ir50, 'output_layer')
    assert [len(getattr(ir50, f'body{s}')) for s in (1, 2, 3)] == [3, 4, 14]
    sd = ir50.state_dict()
    assert len(sd) == 292
    assert len([k for k in sd if not k.endswith('num_batches_tracked')]) == 247


def test_unit_structure(ir50):
    unit = ir50.body2[0]
    assert isinstance(unit, BottleneckIR)
    # stride on the second 3×3 conv of the residual branch, conv shortcut when in != out
    assert unit.res_layer[1].stride == (1, 1) and unit.res_layer[3].stride == (2, 2)
    assert tuple(unit.shortcut_layer[0].weight.shape) == (128, 64, 1, 1)
    assert unit.shortcut_layer[0].stride == (2, 2)
    # stage 1 maps 64 → 64: parameter-free max-pool (k=1, s=2) shortcut
    assert isinstance(ir50.body1[0].shortcut_layer, torch.nn.MaxPool2d)
    assert isinstance(ir50.body3[5].res_layer[2], torch.nn.PReLU)
    # no activation after the sum: output = res_layer(x) + shortcut_layer(x) exactly
    x = torch.randn(1, 64, 8, 8)
    u = ir50.body1[1]
    torch.testing.assert_close(u(x), u.res_layer(x) + x)


def test_full_network_and_output_layer():
    with torch.device('meta'):  # counts and shapes only: no memory, no init cost
        m = MODELS.build(dict(type='IResNet', depth=50, num_stages=4, out_indices=(3, ),
                              with_output_layer=True)).eval()
    assert n_params(m) == 43_574_976
    assert n_params(m.body4) == 13_115_392
    assert n_params(m.output_layer) == 12_847_616
    assert len(m.state_dict()) == 349
    with torch.no_grad():
        out = m(torch.randn(1, 3, 112, 112, device='meta'))
    assert [tuple(o.shape) for o in out] == [(1, 512, 7, 7), (1, 512)]


def test_stage_outputs_and_conv_macs_at_112(ir50):
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        outs = ir50(torch.randn(1, 3, 112, 112))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14)]
    macs = fc.get_total_flops() / 2
    # backbones.md §1.3: 0.0217 + 1.0404 + 1.0469 + 3.3590 = 5.468 GMACs (conv only)
    assert abs(macs - 5.468e9) / 5.468e9 < 1e-3


def test_nearest_resize_picks_even_pixels(ir50):
    x = torch.randn(1, 3, 224, 224)
    # the primitive: nearest 224 → 112 is x[..., ::2, ::2]
    assert torch.equal(F.interpolate(x, size=112, mode='nearest'), x[..., ::2, ::2])
    resized = IResNet(depth=50, num_stages=1, out_indices=(0, ), input_resize=112).eval()
    plain = IResNet(depth=50, num_stages=1, out_indices=(0, )).eval()
    plain.load_state_dict(resized.state_dict())
    with torch.no_grad():
        a = resized(x)[0]
        b = plain(x[..., ::2, ::2].contiguous())[0]
    assert a.shape == (1, 64, 56, 56)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_out_indices_and_depths():
    m = IResNet(depth=50, num_stages=2, out_indices=(-1, ), base_channels=8).eval()
    assert not hasattr(m, 'body3')
    with torch.no_grad():
        out = m(torch.randn(1, 3, 32, 32))
    assert len(out) == 1 and out[0].shape == (1, 16, 8, 8)
    # depth 100 / 152 unit counts (3-13-30-3, 3-8-36-3), built narrow to stay fast
    assert [len(getattr(IResNet(depth=100, num_stages=4, base_channels=4), f'body{s}'))
            for s in (1, 2, 3, 4)] == [3, 13, 30, 3]
    assert [len(getattr(IResNet(depth=152, num_stages=4, base_channels=4), f'body{s}'))
            for s in (1, 2, 3, 4)] == [3, 8, 36, 3]


def test_base_channels_quarter_width():
    m = IResNet(base_channels=16).eval()
    # widths 16/32/64: every conv has 1/16 of the weights; BN/PReLU scale by 1/4
    assert m.stage_channels == (16, 32, 64)
    with torch.no_grad():
        outs = m(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8)]


def test_bad_arguments():
    with pytest.raises(ValueError, match='depth'):
        IResNet(depth=34)
    with pytest.raises(ValueError, match='num_stages=4'):
        IResNet(num_stages=3, with_output_layer=True)
    with pytest.raises(ValueError, match='out_index 3'):
        IResNet(num_stages=3, out_indices=(3, ))
