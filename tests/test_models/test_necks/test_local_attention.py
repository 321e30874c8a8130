"""LAN neck (LocalAttention, local_attention.py): shapes, parameter counts of specs/lan.md §3.1,
all-zero weights, fusions, initialisation, and a LAN FERClassifier end to end."""
import math

import pytest
import torch

from mmfer.models.necks.local_attention import LocalAttention
from mmfer.registry import MODELS
import mmfer  # noqa: F401  (registers every mmfer module)
from mmfer.utils.params import count_parameters

RESNET18 = 11_176_512
FC_7 = 512 * 7 + 7  # 3,591
LAN_PARAMS = {(256, 128, 64): 1_550_209, (128, 64, 32): 682_945,
              (256, 256, 256): 2_363_905, (512, 512, 512): 7_087_105}
TOTALS = {(256, 128, 64): 12_730_312, (128, 64, 32): 11_863_048,
          (256, 256, 256): 13_544_008, (512, 512, 512): 18_267_208}


def lan_model_cfg(widths=(256, 128, 64), fusion='add', num_classes=7):
    out = 1024 if fusion == 'concat' else 512
    return dict(type='FERClassifier',
                backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
                neck=dict(type='LocalAttention', in_channels=512, widths=widths, fusion=fusion),
                head=dict(type='FERClsHead', num_classes=num_classes, in_channels=out,
                          losses=[dict(type='FERCrossEntropyLoss'),
                                  dict(type='GuidanceBCELoss', loss_weight=0.5)]))


def test_default_model_parameter_count():
    # mmpretrain's ResNet calls .item() in its constructor, so the whole model is built on the CPU
    model = MODELS.build(lan_model_cfg())
    assert count_parameters(model.backbone) == RESNET18
    assert count_parameters(model.neck) == LAN_PARAMS[(256, 128, 64)]
    assert count_parameters(model.head) == FC_7
    assert count_parameters(model) == TOTALS[(256, 128, 64)] == 12_730_312


@pytest.mark.parametrize('widths', list(LAN_PARAMS))
def test_parameter_counts_per_width(widths):
    with torch.device('meta'):  # the necks alone: no memory, no init cost
        neck = MODELS.build(dict(type='LocalAttention', widths=widths))
    assert count_parameters(neck) == LAN_PARAMS[widths]
    assert RESNET18 + count_parameters(neck) + FC_7 == TOTALS[widths]


def test_lan_without_bn_has_no_bn_parameters():
    neck = LocalAttention(norm=None)
    # 1,550,209 minus the BN weights and biases of 256 + 128 + 64 channels
    assert count_parameters(neck) == 1_550_209 - 2 * (256 + 128 + 64)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in neck.modules())


def test_shapes_on_a_224_batch():
    torch.manual_seed(0)
    model = MODELS.build(lan_model_cfg()).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        feats = model.extract_feat(x)
        logits = model.head(feats)
    assert tuple(feats['backbone_map'].shape) == (2, 512, 7, 7)
    assert tuple(feats['attn_maps'].shape) == (2, 1, 7, 7)
    assert tuple(feats['attn_logits'].shape) == (2, 1, 7, 7)
    assert float(feats['attn_maps'].min()) > 0 and float(feats['attn_maps'].max()) < 1
    assert tuple(feats['feat'].shape) == (2, 512)
    assert tuple(logits.shape) == (2, 7)


def test_all_zero_weights_give_half_map_and_one_and_a_half_gap():
    neck = LocalAttention().eval()
    for p in neck.parameters():
        p.data.zero_()
    fo = torch.rand(3, 512, 7, 7)
    out = neck((fo, ))
    assert torch.equal(out['attn_maps'], torch.full((3, 1, 7, 7), 0.5))
    gap = fo.mean(dim=(2, 3))
    assert torch.allclose(out['feat'], 1.5 * gap, atol=1e-6, rtol=0)
    assert torch.allclose(out['global_feat'], gap) and torch.allclose(out['local_feat'], gap / 2)


@pytest.mark.parametrize('fusion,expect', [('add', lambda o, a: o + a),
                                           ('avg', lambda o, a: (o + a) / 2),
                                           ('concat', lambda o, a: torch.cat([o, a], 1))])
def test_fusions_on_a_hand_map(fusion, expect):
    neck = LocalAttention(in_channels=4, widths=(2, 2, 2), fusion=fusion).eval()
    fo = torch.arange(2 * 4 * 2 * 2, dtype=torch.float).reshape(2, 4, 2, 2)
    out = neck(fo)
    fm = out['attn_maps']
    f_o = fo.mean(dim=(2, 3))
    f_a = (fo * fm).mean(dim=(2, 3))  # F_a = F_o ⊙ F_m, plain GAP (÷ H·W)
    assert torch.allclose(out['feat'], expect(f_o, f_a))
    assert neck.out_channels == (8 if fusion == 'concat' else 4)


def test_initialisation_starts_the_map_at_one_half_bias():
    torch.manual_seed(0)
    neck = LocalAttention()
    neck.attention[0].weight.data.fill_(3.)
    neck.init_weights()
    w = neck.attention[0].weight.detach()
    assert float(w.std()) == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.02)  # fan_out
    last = neck.attention[-1]
    assert float(last.bias.detach().abs().max()) == 0.0
    assert torch.equal(neck.attention[1].weight, torch.ones(256))


def test_wrong_options_and_inputs_are_refused():
    with pytest.raises(ValueError, match='fusion'):
        LocalAttention(fusion='max')
    with pytest.raises(ValueError, match='three positive'):
        LocalAttention(widths=(64, 1))
    with pytest.raises(ValueError, match='in_channels'):
        LocalAttention(in_channels=512)(torch.zeros(1, 256, 7, 7))


def test_inference_of_a_lan_classifier_runs_without_guidance():
    """predict needs no guidance_map: only backbone → LAN → fusion → FC runs."""
    torch.manual_seed(0)
    cfg = lan_model_cfg()
    cfg['backbone'] = dict(type='ResNet', depth=18, base_channels=8, out_indices=(3, ))
    cfg['neck'].update(in_channels=64, widths=(8, 8, 8))
    cfg['head'].update(in_channels=64)
    model = MODELS.build(cfg).eval()
    preds = model(torch.randn(2, 3, 64, 64), mode='predict')
    assert len(preds) == 2 and tuple(preds[0].pred_score.shape) == (7, )
    assert float(preds[0].pred_score.sum()) == pytest.approx(1.0, abs=1e-6)
