"""VGGFace2 Caffe ResNet-50 / SE-ResNet-50 (backbones.md §4, dacfer.md §4 acceptance facts).

mmpretrain's ResNet cannot be built on the meta device (its drop-path schedule calls
``Tensor.item()`` on a ``linspace``), so the full networks are built once on the CPU (≈1 s).
"""
import functools

import pytest
import torch
import torch.nn.functional as F

from mmfer.models.backbones.vggface2_resnet import VGGFace2ResNet, VGGFace2SEResNet
from mmfer.registry import MODELS
from mmfer.utils.params import count_parameters

pytestmark = pytest.mark.usefixtures('one_thread')


@functools.lru_cache(maxsize=None)
def classifier(arch):
    """FERClassifier(VGGFace2 backbone, CAMClsHead 2048 → 7), built once per module."""
    backbone = 'VGGFace2SEResNet' if arch == 'senet50' else 'VGGFace2ResNet'
    return MODELS.build(dict(
        type='FERClassifier', backbone=dict(type=backbone, depth=50),
        head=dict(type='CAMClsHead', num_classes=7, in_channels=2048))).eval()


def full(arch):
    return classifier(arch).backbone


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_backbones_and_se_gates():
    assert n_params(full('resnet50')) == 23_508_032
    se = full('senet50')
    assert n_params(se) == 26_039_024
    assert sum(p.numel() for k, p in se.named_parameters() if '.se_layer.' in k) == 2_530_992
    # with the 8631-way VGGFace2 fc
    assert n_params(full('resnet50')) + 2048 * 8631 + 8631 == 41_192_951
    assert n_params(se) + 2048 * 8631 + 8631 == 43_723_943


def test_inference_model_counts_with_fc_7():
    assert count_parameters(classifier('resnet50')) == 23_522_375
    assert count_parameters(classifier('senet50')) == 26_053_367
    assert isinstance(full('senet50'), VGGFace2SEResNet)


def test_caffe_stem_pool_stride_placement_and_se_gate():
    se = full('senet50')
    assert (se.maxpool.kernel_size, se.maxpool.stride, se.maxpool.padding,
            se.maxpool.ceil_mode) == (3, 2, 0, True)
    assert se.conv1.kernel_size == (7, 7) and se.conv1.stride == (2, 2) and \
        se.conv1.padding == (3, 3) and se.conv1.bias is None
    for name in ('layer2', 'layer3', 'layer4'):
        block = getattr(se, name)[0]
        assert block.conv1.stride == (2, 2) and block.conv2.stride == (1, 1)  # Caffe: first 1×1
        assert block.downsample[0].stride == (2, 2)
    assert se.layer1[0].conv1.stride == (1, 1) and se.layer1[0].downsample[0].stride == (1, 1)
    gate = se.layer4[2].se_layer
    assert gate.conv1.conv.weight.shape == (128, 2048, 1, 1)  # 2048 / 16
    assert gate.conv1.conv.bias.shape == (128, ) and gate.conv2.conv.bias.shape == (2048, )
    assert se.layer1[0].se_layer.conv1.conv.weight.shape == (16, 256, 1, 1)
    assert isinstance(gate.conv1.activate, torch.nn.ReLU)
    assert isinstance(gate.conv2.activate, torch.nn.Sigmoid)


def test_caffe_pool_differs_from_mmpretrain_pool_on_same_size():
    caffe = VGGFace2ResNet(stem_channels=8, base_channels=8)
    pt = VGGFace2ResNet(stem_channels=8, base_channels=8, stem_pool='pytorch')
    x = torch.arange(112 * 112.).view(1, 1, 112, 112)
    a, b = caffe.maxpool(x), pt.maxpool(x)
    assert a.shape == b.shape == (1, 1, 56, 56)
    # padding 0: window (0..2, 0..2) → max at (2, 2); padding 1: window (−1..1) → max at (1, 1)
    assert a[0, 0, 0, 0].item() == 2 * 112 + 2 and b[0, 0, 0, 0].item() == 1 * 112 + 1
    with pytest.raises(ValueError, match="'caffe', 'pytorch'"):
        VGGFace2ResNet(stem_pool='same')


@torch.no_grad()
def test_feature_map_2048x7x7_and_cam_7x7x7_at_224():
    model = classifier('senet50')
    feats = model.extract_feat(torch.zeros(1, 3, 224, 224))
    assert feats['backbone_map'].shape == (1, 2048, 7, 7) and feats['feat'].shape == (1, 2048)
    assert model.head.cam(feats['backbone_map']).shape == (1, 7, 7, 7)
    assert model.head(feats).shape == (1, 7)
