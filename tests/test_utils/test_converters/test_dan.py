"""Official DAN / MS-Celeb ResNet-18 layouts convert key for key and load strictly.

The official layouts are rebuilt here from the spec tables (specs/dan.md §4, backbones.md §3),
independently of the converter's mapping: the backbone from torchvision's own ResNet-18 names.
"""
import functools
import os.path as osp
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
import torchvision
from mmengine.config import Config

from mmfer.datasets.class_maps import CLASS_ORDERS
from mmfer.registry import MODELS
from mmfer.utils.checkpoint import load_checkpoint
from mmfer.utils.converters.dan import (LOSS_STATE_IGNORE, convert_dan_checkpoint,
                                        dan_to_mmfer_state_dict, infer_dan_layout, map_dan_key)
from mmfer.utils.converters.resnet import resnet18_tv_to_mmfer

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _bn(prefix, c, g):
    return {f'{prefix}.weight': torch.rand(c, generator=g) + 0.5,
            f'{prefix}.bias': torch.randn(c, generator=g),
            f'{prefix}.running_mean': torch.randn(c, generator=g),
            f'{prefix}.running_var': torch.rand(c, generator=g) + 0.5,
            f'{prefix}.num_batches_tracked': torch.tensor(100)}


def official_dan_state_dict(num_classes=7, num_heads=4, seed=0):
    """A random state dict in the official yaoing/DAN layout (names and shapes of spec §4)."""
    return OrderedDict(_official_dan_state_dict(num_classes, num_heads, seed))  # a fresh dict


@functools.lru_cache(maxsize=None)
def _official_dan_state_dict(num_classes, num_heads, seed):
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    tv = torchvision.models.resnet18().state_dict()
    rename = {'conv1.': 'features.0.', 'bn1.': 'features.1.', 'layer1.': 'features.4.',
              'layer2.': 'features.5.', 'layer3.': 'features.6.', 'layer4.': 'features.7.'}
    for k, v in tv.items():
        if k.startswith('fc.'):
            continue
        old = next(p for p in rename if k.startswith(p))
        sd[rename[old] + k[len(old):]] = (torch.randn(v.shape, generator=g) * 0.05
                                          if v.dtype.is_floating_point else v.clone())
    for h in range(num_heads):
        p = f'cat_head{h}'
        for name, shape in (('conv1x1', (256, 512, 1, 1)), ('conv_3x3', (512, 256, 3, 3)),
                            ('conv_1x3', (512, 256, 1, 3)), ('conv_3x1', (512, 256, 3, 1))):
            sd[f'{p}.sa.{name}.0.weight'] = torch.randn(shape, generator=g) * 0.02
            sd[f'{p}.sa.{name}.0.bias'] = torch.randn(shape[0], generator=g) * 0.02
            sd.update(_bn(f'{p}.sa.{name}.1', shape[0], g))
        sd[f'{p}.ca.attention.0.weight'] = torch.randn(32, 512, generator=g) * 0.05
        sd[f'{p}.ca.attention.0.bias'] = torch.randn(32, generator=g) * 0.05
        sd.update(_bn(f'{p}.ca.attention.1', 32, g))
        sd[f'{p}.ca.attention.3.weight'] = torch.randn(512, 32, generator=g) * 0.05
        sd[f'{p}.ca.attention.3.bias'] = torch.randn(512, generator=g) * 0.05
    sd['fc.weight'] = torch.randn(num_classes, 512, generator=g) * 0.05
    sd['fc.bias'] = torch.randn(num_classes, generator=g) * 0.05
    sd.update(_bn('bn', num_classes, g))
    return sd


@pytest.fixture(scope='module')
def rafdb_model():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/dan/dan_r18_rafdb.py'))
    return MODELS.build(cfg.model)


def test_official_layout_counts():
    sd = official_dan_state_dict()
    assert len(sd) == 275
    assert sum(k.startswith('features.') for k in sd) == 120
    assert sum(k.startswith('cat_head0.') for k in sd) == 37
    assert sum(k.split('.')[0] in ('fc', 'bn') for k in sd) == 7
    assert infer_dan_layout(sd) == (7, 4)
    assert infer_dan_layout(official_dan_state_dict(8, 2)) == (8, 2)


def test_key_map_examples():
    assert map_dan_key('features.0.weight') == 'backbone.conv1.weight'
    assert map_dan_key('features.1.running_var') == 'backbone.bn1.running_var'
    assert map_dan_key('features.7.0.downsample.1.weight') == 'backbone.layer4.0.downsample.1.weight'
    assert map_dan_key('cat_head3.sa.conv_1x3.1.bias') == 'neck.heads.3.spatial.conv1x3.bn.bias'
    assert map_dan_key('cat_head0.sa.conv1x1.0.weight') == 'neck.heads.0.spatial.conv1x1.conv.weight'
    assert map_dan_key('cat_head1.ca.attention.3.weight') == 'neck.heads.1.channel.fc2.weight'
    assert map_dan_key('cat_head1.ca.attention.1.num_batches_tracked') == \
        'neck.heads.1.channel.bn.num_batches_tracked'
    assert map_dan_key('bn.running_mean') == 'head.bn.running_mean'
    for bad in ('features.2.weight', 'cat_head0.ca.attention.2.weight', 'sig.weight',
                'features.4.0.conv3.weight'):
        with pytest.raises(KeyError):
            map_dan_key(bad)


def test_convert_and_load_strictly(rafdb_model):
    sd = official_dan_state_dict()
    ckpt = {'iter': 21, 'model_state_dict': sd, 'optimizer_state_dict': {'state': {}}}
    out = convert_dan_checkpoint(ckpt, 'rafdb', model=rafdb_model, source='rafdb_epoch21.pth')
    assert len(out['state_dict']) == 275
    assert out['meta']['classes'] == list(CLASS_ORDERS['rafdb'])
    assert out['meta']['dataset_meta']['classes'][0] == 'Surprise'
    assert out['meta']['converted_from']['epoch'] == 21
    # every model key except the affinity centers is loaded, strictly
    load_checkpoint(rafdb_model, out, ignore_missing=LOSS_STATE_IGNORE)
    own = rafdb_model.state_dict()
    for key, value in sd.items():
        assert torch.equal(own[map_dan_key(key)], value), key
    assert set(own) - set(out['state_dict']) == {'head.losses.1.centers'}


def test_converted_model_computes_the_official_function(rafdb_model):
    """Official neck + classifier written with functional ops on the official names."""
    sd = official_dan_state_dict(seed=1)
    load_checkpoint(rafdb_model, convert_dan_checkpoint(sd, 'rafdb')['state_dict'],
                    ignore_missing=LOSS_STATE_IGNORE)
    rafdb_model.eval()
    fmap = torch.rand(2, 512, 7, 7, generator=torch.Generator().manual_seed(2))

    def conv_bn(x, p, padding):
        x = F.conv2d(x, sd[f'{p}.0.weight'], sd[f'{p}.0.bias'], padding=padding)
        return F.batch_norm(x, sd[f'{p}.1.running_mean'], sd[f'{p}.1.running_var'],
                            sd[f'{p}.1.weight'], sd[f'{p}.1.bias'], eps=1e-5)

    heads = []
    for h in range(4):
        p = f'cat_head{h}.sa'
        y = conv_bn(fmap, f'{p}.conv1x1', 0)
        y = F.relu(conv_bn(y, f'{p}.conv_3x3', 1) + conv_bn(y, f'{p}.conv_1x3', (0, 1))
                   + conv_bn(y, f'{p}.conv_3x1', (1, 0)))
        g = (fmap * y.sum(1, keepdim=True)).mean((2, 3))
        a = f'cat_head{h}.ca.attention'
        t = F.linear(g, sd[f'{a}.0.weight'], sd[f'{a}.0.bias'])
        t = F.batch_norm(t, sd[f'{a}.1.running_mean'], sd[f'{a}.1.running_var'],
                         sd[f'{a}.1.weight'], sd[f'{a}.1.bias'], eps=1e-5)
        t = torch.sigmoid(F.linear(F.relu(t), sd[f'{a}.3.weight'], sd[f'{a}.3.bias']))
        heads.append(g * t)
    z = F.log_softmax(torch.stack(heads, 1), dim=1).sum(1)
    logits = F.batch_norm(F.linear(z, sd['fc.weight'], sd['fc.bias']), sd['bn.running_mean'],
                          sd['bn.running_var'], sd['bn.weight'], sd['bn.bias'], eps=1e-5)
    with torch.no_grad():
        out = rafdb_model.head(rafdb_model.neck((fmap, )))
    assert torch.allclose(out, logits, rtol=1e-4, atol=1e-4)


def test_tampered_dicts_raise(rafdb_model):
    extra = official_dan_state_dict()
    extra['cat_head0.sa.extra.weight'] = torch.zeros(1)
    with pytest.raises(KeyError, match='leftover'):
        dan_to_mmfer_state_dict(extra)
    missing = official_dan_state_dict()
    del missing['cat_head2.ca.attention.3.bias']
    with pytest.raises(KeyError, match='275'):
        dan_to_mmfer_state_dict(missing)
    with pytest.raises(KeyError, match='275'):
        convert_dan_checkpoint(missing, 'rafdb', model=rafdb_model)
    # renamed key by key, the gap is still caught when loading into the model
    renamed = OrderedDict((map_dan_key(k), v) for k, v in missing.items())
    with pytest.raises(KeyError, match='1 missing keys: neck.heads.2.channel.fc2.bias'):
        load_checkpoint(rafdb_model, renamed, ignore_missing=LOSS_STATE_IGNORE)
    shape = official_dan_state_dict()
    shape['cat_head1.sa.conv_3x1.0.weight'] = torch.zeros(512, 256, 1, 3)
    with pytest.raises(KeyError, match='shape'):
        convert_dan_checkpoint(shape, 'rafdb', model=rafdb_model)
    with pytest.raises(ValueError, match='--dataset'):
        convert_dan_checkpoint(official_dan_state_dict(num_classes=8), 'rafdb')


def test_affectnet8_conversion_class_order():
    out = convert_dan_checkpoint({'iter': 5, 'model_state_dict': official_dan_state_dict(8)},
                                 'affectnet8')
    assert out['meta']['classes'] == list(CLASS_ORDERS['affectnet'])
    assert tuple(out['state_dict']['head.fc.weight'].shape) == (8, 512)


def test_resnet18_msceleb_conversion(rafdb_model):
    tv = torchvision.models.resnet18()
    tv.eval()
    sd = tv.state_dict()
    assert len(sd) == 122
    out, dropped, added = resnet18_tv_to_mmfer(sd)
    assert dropped == ['fc.weight', 'fc.bias'] and added == []
    assert len(out) == 120 and all(k.startswith('backbone.') for k in out)
    load_checkpoint(rafdb_model, out, ignore_missing=[r'^(neck|head)\.'])
    rafdb_model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = torch.nn.Sequential(*list(tv.children())[:-2])(x)
        assert torch.allclose(rafdb_model.backbone(x)[-1], ref, atol=1e-5)
    # files without num_batches_tracked are accepted; the buffers are added (and declared)
    lean = {k: v for k, v in sd.items() if not k.endswith('num_batches_tracked')}
    assert len(lean) == 102
    out2, _, added2 = resnet18_tv_to_mmfer({'state_dict': lean}['state_dict'])
    assert len(added2) == 20 and len(out2) == 120
    with pytest.raises(KeyError, match='not torchvision ResNet-18'):
        resnet18_tv_to_mmfer(dict(sd, **{'layer5.0.conv1.weight': torch.zeros(1)}))
    broken = dict(sd)
    del broken['layer3.1.conv2.weight']
    with pytest.raises(KeyError, match='missing'):
        resnet18_tv_to_mmfer(broken)


def test_config_pretrained_loads_converted_files(tmp_path):
    """``model.pretrained`` takes a converted backbone file (with its prefix) or a converted DAN
    checkpoint (without the affinity centers), strictly."""
    tv = torchvision.models.resnet18()
    backbone_file = tmp_path / 'r18.pth'
    torch.save(dict(state_dict=resnet18_tv_to_mmfer(tv.state_dict())[0]), backbone_file)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/dan/dan_r18_rafdb.py'))
    cfg.model.neck.num_heads = 1  # cheaper; the loading logic does not depend on H
    cfg.model.pretrained = dict(checkpoint=str(backbone_file), prefix='backbone.')
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert torch.equal(model.backbone.layer3[1].conv2.weight, tv.layer3[1].conv2.weight)

    dan_file = tmp_path / 'dan.pth'
    sd = official_dan_state_dict(num_heads=1)
    torch.save(convert_dan_checkpoint(sd, 'rafdb'), dan_file)
    cfg.model.pretrained = str(dan_file)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert torch.equal(model.head.bn.running_var, sd['bn.running_var'])
    # a backbone-only file is not a whole model: without the prefix option it is refused
    cfg.model.pretrained = str(backbone_file)
    with pytest.raises(KeyError, match='missing keys'):
        MODELS.build(cfg.model).init_weights()
