"""ProductCrossAttention (PCDA Eq. 1-5, pcda.md §3-4 and §8): heatmap toy, shapes, parameter
and MAC budgets, and every option."""
import pytest
import torch

from mmfer.models.necks.product_cross_attention import (ProductCrossAttention,
                                                        landmark_heatmap, normalize_heatmap)
from mmfer.utils.flops import count_flops

FC_7 = 768 * 7 + 7  # the head's 7-way FC, counted with the cross module in pcda.md §7


def count(m, with_tokens=False):
    return sum(p.numel() for n, p in m.named_parameters()
               if with_tokens or not ('cls_token' in n or 'pos_embed' in n))


def toy_lm():
    """N×3×14×14 landmark map with channel values (−1, 2, −3) at position (0, 0)."""
    f = torch.zeros(1, 3, 14, 14)
    f[0, :, 0, 0] = torch.tensor([-1., 2., -3.])
    return f


def test_heatmap_toy_and_shapes():
    f = toy_lm()
    assert landmark_heatmap(f, 'max')[0, 0, 0, 0].item() == 2.0
    assert landmark_heatmap(f, 'sum')[0, 0, 0, 0].item() == -2.0
    assert landmark_heatmap(f, 'abs_sum')[0, 0, 0, 0].item() == 6.0
    img = torch.randn(1, 256, 14, 14)
    lm = torch.randn(1, 128, 14, 14)
    for mode, shape in (('max', (1, 1, 14, 14)), ('sum', (1, 1, 14, 14)),
                        ('abs_sum', (1, 1, 14, 14)), ('conv', (1, 256, 14, 14))):
        m = ProductCrossAttention(heatmap_mode=mode, embed_dim=64, num_heads=4, depth=1).eval()
        with torch.no_grad():
            out = m([img], aux=dict(landmark=(lm, )))
        assert tuple(out['heatmap'].shape) == shape, mode
    # max: f_fusion = H ⊙ f_img, broadcast over the 256 channels ("repeat")
    m = ProductCrossAttention(embed_dim=64, num_heads=4, depth=1).eval()
    captured = {}
    m.fusion_embed.register_forward_hook(lambda mod, a, o: captured.update(x=a[0]))
    with torch.no_grad():
        m([img], aux=dict(landmark=(lm, )))
    assert torch.allclose(captured['x'], img * lm.amax(1, keepdim=True))


def test_heatmap_norms():
    h = torch.tensor([[-1., 0.], [1., 3.]]).view(1, 1, 2, 2)
    assert normalize_heatmap(h, 'none') is h
    assert normalize_heatmap(h, 'relu').flatten().tolist() == [0., 0., 1., 3.]
    assert normalize_heatmap(h, 'minmax').flatten().tolist() == [0., 0.25, 0.5, 1.]
    assert torch.allclose(normalize_heatmap(h, 'sigmoid'), torch.sigmoid(h))
    s = normalize_heatmap(h, 'spatial_softmax')
    assert s.sum().item() == pytest.approx(4.0)
    assert torch.allclose(s, h.flatten().softmax(0).view_as(h) * 4)
    assert torch.equal(normalize_heatmap(torch.ones(1, 1, 2, 2), 'spatial_softmax'),
                       torch.ones(1, 1, 2, 2))


def test_output_shapes_and_tokens():
    m = ProductCrossAttention().eval()
    with torch.no_grad():
        out = m((torch.randn(1, 256, 14, 14), ), aux=dict(landmark=(torch.randn(1, 128, 14, 14), )))
    assert {k: tuple(v.shape) for k, v in out.items()} == dict(
        feat=(1, 768), cls_token=(1, 768), heatmap=(1, 1, 14, 14), tokens=(1, 196, 768))
    assert tuple(m.pos_embed.shape) == (1, 197, 768)
    # feat = SE gate of the class token
    assert torch.allclose(out['feat'], m.se(out['cls_token']))


def test_parameter_budgets():
    with torch.device('meta'):
        default = ProductCrossAttention()
        q_only = ProductCrossAttention(qkv_mode='query_only')
        sep = ProductCrossAttention(qkv_mode='separate')
        no_se = ProductCrossAttention(se_gate=False)
    assert count(default) + FC_7 == 15_660_295
    assert count(default, with_tokens=True) + FC_7 == 15_813_127
    assert count(q_only) + FC_7 == 15_663_367
    assert count(sep) - count(default) == 2 * 590_592  # a distinct W_q_lm per block
    assert count(no_se) + FC_7 == 14_479_111
    # itemised (pcda.md §7)
    assert count(default.lm_embed) == 99_072
    assert count(default.fusion_embed) == 197_376
    assert count(default.blocks[0]) == 7_087_872
    assert count(default.blocks[0].attn.qkv) == 1_771_776
    assert count(default.se) == 1_181_184


def test_macs_of_the_cross_module():
    lm = torch.randn(1, 128, 14, 14)

    def fwd(mod, x):
        return mod([x], aux=dict(landmark=(lm, )))

    torch.manual_seed(0)
    r = count_flops(ProductCrossAttention(), torch.randn(1, 256, 14, 14), forward_fn=fwd)
    q = count_flops(ProductCrossAttention(qkv_mode='query_only'), torch.randn(1, 256, 14, 14),
                    forward_fn=fwd)
    # + the 7-way FC (5,376 MACs) of the head
    assert round((r.macs + 5376) / 1e9, 2) == 3.66
    assert round((q.macs + 5376) / 1e9, 2) == 2.97
    # exact: embeddings 196·(128 + 256)·768; per block qkv on both streams 2·197·768·2304,
    # QKᵀ and AV 2·197·197·768, proj 197·768², MLP 2·197·768·3072; SE gate 2·768²
    block = 2 * 197 * 768 * 2304 + 2 * 197 * 197 * 768 + 197 * 768 ** 2 + 2 * 197 * 768 * 3072
    expect = 196 * 384 * 768 + 2 * block + 2 * 768 ** 2
    assert r.macs == expect == 3_664_063_488
    # query_only: Q on the landmark stream, K and V on the fusion stream only
    assert r.macs - q.macs == 2 * (2 * 197 * 768 * 2304 - 197 * 768 * 2304)
    assert q.macs == 2_966_891_520
    assert r.params['leaf_executed'] + FC_7 == 15_660_295


def tiny(**kw):
    kw = dict(dict(img_channels=8, lm_channels=6, embed_dim=16, num_patches=16, depth=2,
                   num_heads=2, drop_ratio=0.), **kw)
    return ProductCrossAttention(**kw)


def run(m, n=2, train=False, seed=0):
    torch.manual_seed(seed)
    img = torch.randn(n, 8, 4, 4)
    lm = torch.randn(n, 6, 4, 4)
    m.train(train)
    return m([img], aux=dict(landmark=(lm, )))


@pytest.mark.parametrize('kw', [
    dict(), dict(heatmap_mode='sum'), dict(heatmap_mode='abs_sum'),
    dict(heatmap_mode='conv', heatmap_kernel=3), dict(heatmap_mode='none'),
    dict(heatmap_norm='minmax'), dict(heatmap_norm='spatial_softmax'),
    dict(qkv_mode='query_only'), dict(qkv_mode='separate'), dict(update_landmark=True),
    dict(prenorm_attn=False), dict(eq5_literal=True), dict(drop_mode='drop_path', drop_ratio=0.5),
    dict(drop_mode='head', drop_ratio=0.5), dict(se_gate=False), dict(pos_embed='none'),
    dict(pos_embed='fusion_only'), dict(pos_embed='separate'), dict(cross_attention=False),
])
def test_every_option_runs_and_backpropagates(kw):
    m = tiny(**kw)
    out = run(m, train=True)
    assert tuple(out['feat'].shape) == (2, 16) and tuple(out['cls_token'].shape) == (2, 16)
    out['feat'].sum().backward()
    assert m.fusion_embed.weight.grad is not None and m.fusion_embed.weight.grad.abs().sum() > 0


def test_option_semantics():
    # no SE gate: feat is the class token
    out = run(tiny(se_gate=False))
    assert torch.equal(out['feat'], out['cls_token'])
    # heatmap 'none': the image map is used as is (ones map reported)
    m = tiny(heatmap_mode='none')
    out = run(m)
    assert torch.equal(out['heatmap'], torch.ones(2, 1, 4, 4))
    # cross_attention=False: no landmark stream is built; with heatmap 'none' too, no landmark
    # network is needed at all (Table 1 row "none" / "N")
    m = tiny(cross_attention=False)
    assert not hasattr(m, 'lm_embed') and not hasattr(m, 'lm_cls_token')
    m = tiny(cross_attention=False, heatmap_mode='none').eval()
    assert not m.needs_landmarks
    assert tuple(m([torch.randn(2, 8, 4, 4)])['feat'].shape) == (2, 16)
    # landmark tokens are not updated by default: the landmark stream never reaches the output
    # except through the queries; update_landmark adds mirrored modules
    assert not hasattr(tiny().blocks[0], 'attn_lm')
    assert hasattr(tiny(update_landmark=True).blocks[1], 'mlp_lm')
    # query_only has its own LayerNorm for the key/value stream
    assert hasattr(tiny(qkv_mode='query_only').blocks[0], 'norm1_kv')
    assert not hasattr(tiny(prenorm_attn=False).blocks[0], 'norm1')
    # drop_path rates rise linearly to drop_ratio; dropout mode uses p = drop_ratio
    m = tiny(drop_mode='drop_path', drop_ratio=0.5)
    assert [b.drop_path.p for b in m.blocks] == [0.0, 0.5] and m.pos_drop.p == 0.0
    m = tiny(drop_ratio=0.5)
    assert m.pos_drop.p == 0.5 and m.blocks[0].mlp.drop.p == 0.5 and \
        m.blocks[0].attn.proj_drop.p == 0.5 and m.head_drop.p == 0.0
    assert tiny(drop_mode='head', drop_ratio=0.5).head_drop.p == 0.5
    # dropout is off in eval mode: two eval passes agree
    m = tiny(drop_ratio=0.5)
    assert torch.equal(run(m)['feat'], run(m)['feat'])
    # eq5_literal: t_out = MLP(LN(t') + t'), no residual
    blk = tiny(eq5_literal=True, depth=1).blocks[0].eval()
    t = torch.randn(1, 17, 16)
    assert torch.allclose(blk._ffn(t, blk.norm2, blk.mlp), blk.mlp(blk.norm2(t) + t))


def test_cross_attention_uses_landmark_queries():
    """Changing only the landmark map changes the output through the queries; with
    cross_attention=False and heatmap 'none' it cannot."""
    torch.manual_seed(0)
    m = tiny(heatmap_mode='none').eval()
    for lin in m.blocks.modules():  # sharper attention than the 0.01-std init
        if isinstance(lin, torch.nn.Linear):
            torch.nn.init.normal_(lin.weight, std=0.5)
    img = torch.randn(1, 8, 4, 4)
    a = m([img], aux=dict(landmark=(torch.randn(1, 6, 4, 4), )))['feat']
    b = m([img], aux=dict(landmark=(torch.randn(1, 6, 4, 4), )))['feat']
    assert (a - b).abs().max().item() > 1e-3
    m = tiny(heatmap_mode='none', cross_attention=False).eval()
    a = m([img], aux=dict(landmark=(torch.randn(1, 6, 4, 4), )))['feat']
    b = m([img], aux=dict(landmark=(torch.randn(1, 6, 4, 4), )))['feat']
    assert torch.equal(a, b)


def test_errors_name_the_fix():
    m = tiny()
    with pytest.raises(KeyError, match="aux_nets=dict\\(landmark="):
        m([torch.randn(1, 8, 4, 4)], aux={})
    with pytest.raises(ValueError, match='differ in size'):
        m([torch.randn(1, 8, 4, 4)], aux=dict(landmark=(torch.randn(1, 6, 8, 8), )))
    with pytest.raises(ValueError, match='num_patches'):
        m([torch.randn(1, 8, 8, 8)], aux=dict(landmark=(torch.randn(1, 6, 8, 8), )))
    with pytest.raises(ValueError, match='lm_channels'):
        m([torch.randn(1, 8, 4, 4)], aux=dict(landmark=(torch.randn(1, 5, 4, 4), )))
    with pytest.raises(ValueError, match='heatmap_mode'):
        tiny(heatmap_mode='mean')
    with pytest.raises(ValueError, match='update_landmark'):
        tiny(update_landmark=True, cross_attention=False)
