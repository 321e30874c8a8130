"""POSTERViT / POSTERBase (QCS base network = POSTER++ w/o landmarks, qcs.md §1, §9)."""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from mmfer.models.necks.poster_base import POSTERBase, POSTERViT
from mmfer.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
BASE_CFG = osp.join(ROOT, 'configs/_base_/models/poster_base_ir50.py')


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def build_base_model(num_classes=7):
    cfg = Config.fromfile(BASE_CFG).model
    cfg.head.num_classes = num_classes
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def base_model():
    torch.manual_seed(0)
    return build_base_model(7).eval()


def test_vit_parameter_counts():
    vit = MODELS.build(dict(type='POSTERViT', num_tokens=147, embed_dim=768, depth=2))
    assert n_params(vit.blocks[0]) == 7_087_872
    assert n_params(vit.se) == 1_181_184
    assert vit.cls_token.numel() == 768 and vit.pos_embed.numel() == 113_664
    # VIT_base of qcs.md §9 = this ViT + the 7-way head Linear(768, 7) (5,383)
    assert n_params(vit) + 768 * 7 + 7 == 15_478_279
    # VIT_cross (depth 1) + 7-way head
    assert n_params(POSTERViT(depth=1)) + 768 * 7 + 7 == 8_390_407


def test_vit_init():
    torch.manual_seed(0)
    vit = POSTERViT(depth=2)
    assert abs(vit.pos_embed.std().item() - 0.02) < 1e-3
    assert abs(vit.blocks[0].mlp.fc1.weight.std().item() - 0.01) < 2e-4
    assert abs(vit.se.fc1.weight.std().item() - 0.01) < 2e-4
    for m in vit.modules():
        if isinstance(m, torch.nn.Linear):
            assert torch.count_nonzero(m.bias) == 0
        if isinstance(m, torch.nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.count_nonzero(m.bias) == 0
            assert m.eps == 1e-6


def _reference_vit(vit, tokens, num_heads):
    """Independent re-computation of the POSTER++ ViT equations (explicit softmax attention)."""
    n, t, c = tokens.shape
    d = c // num_heads
    x = torch.cat([vit.cls_token.expand(n, -1, -1), tokens], 1) + vit.pos_embed
    for blk in vit.blocks:
        h = F.layer_norm(x, (c, ), blk.norm1.weight, blk.norm1.bias, 1e-6)
        qkv = h @ blk.attn.qkv.weight.T + blk.attn.qkv.bias
        q, k, v = qkv.split(c, dim=-1)
        heads = []
        for i in range(num_heads):
            qi, ki, vi = (z[..., i * d:(i + 1) * d] for z in (q, k, v))
            a = torch.softmax(qi @ ki.transpose(1, 2) / math.sqrt(d), dim=-1)
            heads.append(a @ vi)
        x = x + torch.cat(heads, -1) @ blk.attn.proj.weight.T + blk.attn.proj.bias
        h = F.layer_norm(x, (c, ), blk.norm2.weight, blk.norm2.bias, 1e-6)
        h = F.gelu(h @ blk.mlp.fc1.weight.T + blk.mlp.fc1.bias)
        x = x + h @ blk.mlp.fc2.weight.T + blk.mlp.fc2.bias
    x = F.layer_norm(x, (c, ), vit.norm.weight, vit.norm.bias, 1e-6)
    cls = x[:, 0]
    gate = torch.sigmoid(vit.se.fc2(torch.relu(vit.se.fc1(cls))))
    return cls * gate, x[:, 1:]


def test_vit_forward_matches_equations():
    torch.manual_seed(1)
    vit = POSTERViT(num_tokens=5, embed_dim=16, depth=2, num_heads=2).eval()
    # larger weights than the 0.01 init so that attention is far from uniform
    with torch.no_grad():
        for p in vit.parameters():
            p.normal_(0, 0.5)
    tokens = torch.randn(3, 5, 16)
    with torch.no_grad():
        feat, out = vit(tokens)
        ref_feat, ref_out = _reference_vit(vit, tokens, 2)
    assert feat.shape == (3, 16) and out.shape == (3, 5, 16)
    torch.testing.assert_close(feat, ref_feat, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='N×5×16'):
        vit(torch.randn(1, 6, 16))


def test_embed_counts_and_token_order():
    neck = POSTERBase()
    counts = {name: n_params(getattr(neck, name)) for name in
              ('reduce1', 'reduce2', 'reduce3', 'embed1', 'embed2', 'embed3')}
    assert counts == dict(reduce1=36_928, reduce2=147_584, reduce3=590_080, embed1=5_752_320,
                          embed2=885_504, embed3=197_376)
    assert sum(counts.values()) == 7_609_792
    assert n_params(neck) == 7_609_792 + n_params(neck.vit)

    torch.manual_seed(2)
    small = POSTERBase(in_channels=(4, 8, 16), embed_dim=8, num_tokens=12,
                       vit=dict(depth=1, num_heads=2)).eval()
    feats = (torch.randn(2, 4, 16, 16), torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4))
    with torch.no_grad():
        tokens = small.embed(feats)
        e = [small.embed1(small.reduce1(feats[0])), small.embed2(small.reduce2(feats[1])),
             small.embed3(small.reduce3(feats[2]))]
        out = small(feats)
    assert [tuple(x.shape) for x in e] == [(2, 8, 2, 2)] * 3
    assert tokens.shape == (2, 12, 8)
    # level-major, then row-major: token 4·l + 2·h + w is level l's pixel (h, w)
    for lvl in range(3):
        for h in range(2):
            for w in range(2):
                torch.testing.assert_close(tokens[:, 4 * lvl + 2 * h + w], e[lvl][:, :, h, w])
    assert set(out) == {'feat', 'tokens'}
    assert out['feat'].shape == (2, 8) and out['tokens'].shape == (2, 12, 8)


def test_inference_model_counts(base_model):
    assert n_params(base_model) == 40_700_039
    assert n_params(base_model.backbone) == 17_611_968
    assert len(base_model.state_dict()) == 340
    with torch.device('meta'):
        assert n_params(build_base_model(8)) == 40_700_808


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def test_inference_forward_and_macs(base_model):
    x = torch.randn(1, 3, 224, 224)
    # torch's registry lacks the CPU kernel of F.scaled_dot_product_attention
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop}
    seen = []
    hook = base_model.backbone.input_layer.register_forward_pre_hook(
        lambda m, inp: seen.append(tuple(inp[0].shape)))
    with FlopCounterMode(display=False, custom_mapping=mapping) as fc, torch.no_grad():
        feats = base_model.extract_feat(x)
        logits = base_model.head(feats)
    hook.remove()
    assert seen == [(1, 3, 112, 112)]  # IR-50 sees the nearest-resized 112 image
    assert logits.shape == (1, 7)
    assert feats['tokens'].shape == (1, 147, 768) and feats['feat'].shape == (1, 768)
    assert [tuple(f.shape) for f in feats['backbone_feats']] == [
        (1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14)]
    macs = fc.get_total_flops() / 2
    assert abs(macs - 8.118e9) / 8.118e9 < 0.005, macs


def test_poster_configs_parse_and_build():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/qcs/poster_base_rafdb.py'))
    assert cfg.model.backbone.input_resize == 112
    assert cfg.model.backbone.pretrained == 'checkpoints/ir50.pth'
    assert cfg.train_dataloader.batch_size == 24
    assert cfg.optim_wrapper.type == 'SAMOptimWrapper' and cfg.optim_wrapper.rho == 0.05
    assert cfg.optim_wrapper.optimizer.type == 'Adam' and cfg.optim_wrapper.optimizer.lr == 4e-6
    assert cfg.optim_wrapper.optimizer.weight_decay == 0
    assert cfg.param_scheduler.type == 'ExponentialLR' and cfg.param_scheduler.gamma == 0.98
    assert cfg.train_cfg.max_epochs == 200

    tiny = Config.fromfile(osp.join(ROOT, 'configs/qcs/poster_base_synthfer.py'))
    torch.manual_seed(0)
    model = MODELS.build(tiny.model)
    assert n_params(model) < 2_000_000
    with torch.no_grad():
        feats = model.eval().extract_feat(torch.randn(2, 3, 64, 64))
    assert feats['tokens'].shape == (2, 48, 128)
    assert model.head(feats).shape == (2, 7)
