"""DAN neck (MultiHeadCrossAttention, man_afn.py): parameter counts per head count, module
names of the converter map, official initialisation, attention fusion on hand-computed cases.

Numbers are the acceptance facts of specs/dan.md (moved from tests/test_models/test_dan.py).
"""
import math

import pytest
import torch

from mmfer.models.necks.man_afn import MultiHeadCrossAttention, attention_fusion
from mmfer.utils.params import count_parameters

# ResNet-18 backbone and the RAF-DB DANHead (fc + BN on logits, 7 classes): specs/dan.md
BACKBONE = 11_176_512
FC_BN_7 = 3_605
TOTAL_BY_HEADS = {1: 13_316_021, 2: 15_451_925, 3: 17_587_829, 4: 19_723_733,
                  5: 21_859_637, 6: 23_995_541, 8: 28_267_349}


@pytest.mark.parametrize('num_heads', [1, 2, 3, 5, 6, 8])
def test_parameter_count_per_head_count(num_heads):
    neck = MultiHeadCrossAttention(num_heads=num_heads)
    assert len(neck.heads) == num_heads
    assert BACKBONE + count_parameters(neck) + FC_BN_7 == TOTAL_BY_HEADS[num_heads]


def test_module_names_follow_the_converter_map():
    neck = MultiHeadCrossAttention(num_heads=1)
    names = {n for n, _ in neck.named_parameters()}
    for branch in ('conv1x1', 'conv3x3', 'conv1x3', 'conv3x1'):
        for part in ('conv.weight', 'conv.bias', 'bn.weight', 'bn.bias'):
            assert f'heads.0.spatial.{branch}.{part}' in names
    for part in ('fc1', 'bn', 'fc2'):
        assert f'heads.0.channel.{part}.weight' in names
    assert tuple(neck.heads[0].spatial.conv1x3.conv.weight.shape) == (512, 256, 1, 3)
    assert tuple(neck.heads[0].spatial.conv3x1.conv.weight.shape) == (512, 256, 3, 1)


def test_official_initialisation():
    torch.manual_seed(0)
    neck = MultiHeadCrossAttention(num_heads=2)
    neck.heads[0].spatial.conv3x3.conv.weight.data.fill_(7.)
    neck.init_weights()  # re-applies the official init
    head = neck.heads[0]
    w = head.spatial.conv3x3.conv.weight.detach()
    # Kaiming normal, fan_out = 512·3·3, gain √2
    assert float(w.std()) == pytest.approx(math.sqrt(2 / (512 * 9)), rel=0.02)
    assert float(head.spatial.conv1x1.conv.weight.detach().std()) == pytest.approx(
        math.sqrt(2 / 256), rel=0.02)
    assert float(head.spatial.conv3x3.conv.bias.abs().max()) == 0
    assert torch.equal(head.spatial.conv1x1.bn.weight, torch.ones(256))
    assert float(head.channel.fc1.weight.detach().std()) == pytest.approx(0.001, rel=0.05)
    assert float(head.channel.fc2.bias.abs().max()) == 0
    assert torch.equal(head.channel.bn.weight, torch.ones(32))


def test_fusion_tiny_case():
    hm = torch.tensor([[[2., 4.], [0., 0.]]])  # N=1, H=2, D=2
    z, log_heads = attention_fusion(hm)
    expected_l = torch.tensor([[[-0.126928011, -0.018149928], [-2.126928011, -4.018149928]]])
    assert torch.allclose(log_heads, expected_l, atol=1e-7)
    assert torch.allclose(z, torch.tensor([[-2.253856022, -4.036299856]]), atol=1e-6)
    # H = 1: no log-softmax
    single = torch.tensor([[[3., 5.]]])
    z1, l1 = attention_fusion(single)
    assert torch.equal(l1, single) and torch.equal(z1, torch.tensor([[3., 5.]]))


@pytest.mark.parametrize('num_heads', [2, 4, 8])
def test_fusion_bound_random(num_heads):
    g = torch.Generator().manual_seed(num_heads)
    hm = torch.randn(16, num_heads, 64, generator=g) * 5
    z, _ = attention_fusion(hm)
    assert float(z.max()) <= -num_heads * math.log(num_heads) + 1e-5
    # equality when all heads agree in a channel
    z_eq, _ = attention_fusion(torch.full((1, num_heads, 3), 0.7))
    assert torch.allclose(z_eq, torch.full((1, 3), -num_heads * math.log(num_heads)), atol=1e-5)
