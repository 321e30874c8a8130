"""ConvBN is mmcv's ConvModule with the state-dict keys and the seeded parameters of the
``nn.Conv2d`` + ``nn.BatchNorm2d`` pair it replaced (digests recorded from that version, ccb3064)."""
import hashlib

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.registry import DefaultScope

from mmfer.models.necks.man_afn import ConvBN, MultiHeadCrossAttention


def _digest(state_dict) -> str:
    h = hashlib.sha1()
    for k, v in state_dict.items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_convbn_is_convmodule_with_same_keys_and_default_init():
    torch.manual_seed(1)
    m = ConvBN(4, 6, (1, 3), padding=(0, 1))
    assert isinstance(m, ConvModule) and m.with_norm and not m.with_activation
    assert list(m.state_dict()) == ['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias',
                                    'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']
    assert m.conv.padding == (0, 1) and m.conv.kernel_size == (1, 3)
    # PyTorch's default conv init, unchanged by ConvModule.init_weights
    assert _digest(m.state_dict()) == '2db1ed8629255d8170509a6f8f3a54f0cca61ee7'
    assert abs(float(m.conv.weight.detach().sum()) - 0.6411810517311096) < 1e-7
    assert abs(float(m.conv.bias.detach().sum()) - 0.5637903213500977) < 1e-7
    # forward = bn(conv(x)), no activation: training-mode BN output sums to ~0 per channel
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        y = m(x)
        ref = nn.functional.batch_norm(m.conv(x), None, None, m.bn.weight, m.bn.bias,
                                       training=True)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-6)
    assert float(y.min()) < 0   # no ReLU


def test_neck_seeded_construction_unchanged():
    with DefaultScope.overwrite_default_scope('mmfer'):   # the BN type resolves under mmfer
        torch.manual_seed(0)
        neck = MultiHeadCrossAttention(in_channels=16, num_heads=2, reduction_channels=8,
                                       ca_hidden=4)
        after = nn.Linear(3, 2)     # same position in the RNG stream after the neck
    sd = neck.state_dict()
    assert len(sd) == 74
    assert list(sd)[:3] == ['heads.0.spatial.conv1x1.conv.weight',
                            'heads.0.spatial.conv1x1.conv.bias',
                            'heads.0.spatial.conv1x1.bn.weight']
    assert _digest(sd) == '51a9b0bf12d905a630e000f2aaf6bc8888326b7f'
    assert _digest(after.state_dict()) == '2aa4897fb01bc2b8f8fab52bf5b10a3e3200b11f'
