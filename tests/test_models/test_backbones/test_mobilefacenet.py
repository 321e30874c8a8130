"""MobileFaceNet-136 (backbones.md §2): names, sizes, taps, input modes and frozen use through
FERClassifier(aux_nets=...), including the bn_mode='train' POSTER-family drift."""
import pytest
import torch
from mmpretrain.structures import DataSample

from mmfer.models.backbones.mobilefacenet import MobileFaceNet
from mmfer.registry import MODELS


def n_params(m, trainable=False):
    return sum(p.numel() for p in m.parameters() if p.requires_grad or not trainable)


def test_sizes_names_and_taps():
    m = MobileFaceNet(out_names=('conv_3', 'conv_4', 'conv_6_sep', 'landmarks')).eval()
    sd = m.state_dict()
    assert n_params(m) == 1_007_248
    assert len(sd) == 333
    assert sum(1 for k in sd if not k.endswith('num_batches_tracked')) == 283
    assert sum(p.numel() for n, p in m.named_parameters()
               if n.split('.')[0] in ('conv1', 'conv2_dw', 'conv_23', 'conv_3', 'conv_34',
                                      'conv_4')) == 565_888
    for key, shape in (('conv1.conv.weight', (64, 3, 3, 3)), ('conv1.prelu.weight', (64, )),
                       ('conv_23.conv.conv.weight', (128, 64, 1, 1)),
                       ('conv_23.conv_dw.conv.weight', (128, 1, 3, 3)),
                       ('conv_23.project.conv.weight', (64, 128, 1, 1)),
                       ('conv_3.model.0.conv.conv.weight', (128, 64, 1, 1)),
                       ('conv_4.model.5.project.bn.running_var', (128, )),
                       ('output_layer.conv_6_dw.conv.weight', (512, 1, 7, 7)),
                       ('output_layer.linear.weight', (136, 512)),
                       ('output_layer.bn.running_mean', (136, ))):
        assert tuple(sd[key].shape) == shape, key
    assert 'output_layer.linear.bias' not in sd
    with torch.no_grad():
        outs = m(torch.randn(1, 3, 112, 112))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 28, 28), (1, 128, 14, 14), (1, 512, 7, 7),
                                              (1, 136)]
    # out_names order is the returned order; the default is PCDA's conv_4
    m2 = MobileFaceNet(out_names=('conv_6_sep', 'conv_4'))
    m2.load_state_dict(sd)
    m2.eval()
    with torch.no_grad():
        o2 = m2(torch.randn(1, 3, 112, 112))
    assert [tuple(o.shape) for o in o2] == [(1, 512, 7, 7), (1, 128, 14, 14)]
    assert MobileFaceNet().out_names == ('conv_4', )
    with pytest.raises(ValueError, match='unknown out_name'):
        MobileFaceNet(out_names=('conv_34x', ))


def test_run_all_and_small_inputs():
    # the whole network runs by default (what the paper's budget counts): on 64 px the GDC head
    # cannot run and says so; run_all=False stops after the last tap
    with pytest.raises(ValueError, match='run_all=False'):
        MobileFaceNet().eval()(torch.randn(1, 3, 64, 64))
    m = MobileFaceNet(run_all=False).eval()
    calls = []
    m.output_layer.register_forward_hook(lambda *a: calls.append(1))
    m.conv_45.register_forward_hook(lambda *a: calls.append(2))
    with torch.no_grad():
        (f, ) = m(torch.randn(2, 3, 64, 64))
    assert tuple(f.shape) == (2, 128, 8, 8) and calls == []
    tiny = MobileFaceNet(width_mult=0.125, run_all=False)
    assert tiny.channels['conv_4'] == 16


def test_gdc_kernel_for_64px():
    # gdc_kernel=4 fits the 4×4 conv_6_sep map of a 64×64 input; only the depthwise kernel's
    # shape changes (same key names), and the wrong size still fails with the size it needs
    m = MobileFaceNet(out_names=('conv_4', 'landmarks'), width_mult=0.25, gdc_kernel=4).eval()
    ref = MobileFaceNet(width_mult=0.25)
    assert list(m.state_dict()) == list(ref.state_dict())
    w = 'output_layer.conv_6_dw.conv.weight'
    assert tuple(m.state_dict()[w].shape) == (128, 1, 4, 4)
    assert tuple(ref.state_dict()[w].shape) == (128, 1, 7, 7)
    with torch.no_grad():
        f, lm = m(torch.randn(2, 3, 64, 64))
    assert tuple(f.shape) == (2, 32, 8, 8) and tuple(lm.shape) == (2, 136)
    with pytest.raises(ValueError, match='gdc_kernel=4.*64×64 input'):
        m(torch.randn(1, 3, 112, 112))


def test_landmark_input_native():
    torch.manual_seed(0)
    a = MobileFaceNet(landmark_input='imagenet').eval()
    b = MobileFaceNet(landmark_input='native').eval()
    b.load_state_dict(a.state_dict())
    rgb = torch.rand(1, 3, 112, 112) * 255
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    normed = (rgb - mean) / std
    expect = (rgb / 255.).flip(1)  # BGR in [0, 1]
    assert torch.allclose(b.prepare_input(normed), expect, atol=1e-6)
    assert torch.equal(a.prepare_input(normed), normed)
    with torch.no_grad():
        assert torch.allclose(b(normed)[0], a(expect)[0], atol=1e-5)
    with pytest.raises(ValueError, match='landmark_input'):
        MobileFaceNet(landmark_input='bgr')


def tiny_pcda(bn_mode='eval'):
    return MODELS.build(dict(
        type='FERClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=7),
        backbone=dict(type='IResNet', depth=50, num_stages=3, out_indices=(2, ), base_channels=4),
        aux_nets=dict(landmark=dict(type='MobileFaceNet', out_names=('conv_4', ),
                                    width_mult=0.125, run_all=False, bn_mode=bn_mode,
                                    frozen=True)),
        neck=dict(type='ProductCrossAttention', img_channels=16, lm_channels=16, embed_dim=32,
                  num_patches=16, depth=2, num_heads=4, drop_ratio=0.),
        head=dict(type='FERClsHead', num_classes=7, in_channels=32,
                  losses=[dict(type='FERCrossEntropyLoss'),
                          dict(type='NeAALoss', neutral_class='Neutral', classes='rafdb')])))


def train_step(model, seed=0):
    torch.manual_seed(seed)
    x = torch.randn(6, 3, 32, 32)
    samples = [DataSample().set_gt_label(int(y)) for y in (6, 6, 6, 0, 0, 3)]
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    losses = model(x, samples, mode='loss')
    total = sum(losses.values())
    opt.zero_grad()
    total.backward()
    opt.step()
    return losses


def test_frozen_landmark_net_bit_identical_after_a_training_step():
    model = tiny_pcda()
    lm = model.aux_nets['landmark']
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    img_before = model.backbone.input_layer[1].running_mean.clone()
    losses = train_step(model)
    assert set(losses) == {'loss_ce', 'loss_neaa'} and losses['loss_neaa'].item() > 0
    assert not lm.training and all(not m.training for m in lm.modules())
    assert all(not p.requires_grad and p.grad is None for p in lm.parameters())
    after = lm.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the image backbone did train (its BN statistics moved)
    assert not torch.equal(img_before, model.backbone.input_layer[1].running_mean)


def test_bn_mode_train_reproduces_the_drift():
    model = tiny_pcda(bn_mode='train')
    lm = model.aux_nets['landmark']
    bns = [m for m in lm.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    train_step(model)
    # frozen keeps eval mode; the option puts the BatchNorm layers back into train mode
    assert not lm.training and not lm.conv1.conv.training
    assert all(bn.training for bn in bns)
    after = lm.state_dict()
    ran = ('conv1.', 'conv2_dw.', 'conv_23.', 'conv_3.', 'conv_34.', 'conv_4.')  # run_all=False
    stats = [k for k in before if k.endswith(('running_mean', 'running_var'))
             and k.startswith(ran)]
    assert len(stats) == 2 * (2 + 3 + 4 * 3 + 3 + 6 * 3)
    weights = [k for k in before if k.endswith(('weight', 'bias'))]
    assert all(not torch.equal(before[k], after[k]) for k in stats)
    assert all(torch.equal(before[k], after[k]) for k in weights)
    assert all(p.grad is None for p in lm.parameters())
    model.eval()
    assert all(not bn.training for bn in bns)  # test time uses the drifted statistics
    with pytest.raises(ValueError, match='bn_mode'):
        MobileFaceNet(bn_mode='frozen')
