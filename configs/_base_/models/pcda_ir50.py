# PCDA (Nie et al., CVM 2024; specs/pcda.md, docs/pcda.md): 112×112 input to both backbones
# (no internal resize) → IR-50 stage 3 (256×14×14, trainable, MS-Celeb-1M init) and a frozen
# MobileFaceNet-136 conv_4 (128×14×14, an auxiliary network: requires_grad False, eval mode kept,
# no-grad, out of the optimizer) → ProductCrossAttention (Max heatmap ⊙ f_img, 2 cross blocks
# with landmark queries, 197 tokens × 768) → SE-gated class token → 7-way FC.
# CE + 0.01·NeAA (neutral class found by name in the class order given by `classes`).
# 34,279,511 parameters (excl. class tokens and position embedding), 9.35 GMACs at 112.
model = dict(
    type='FERClassifier',
    backbone=dict(type='IResNet', depth=50, num_stages=3, out_indices=(2, ), input_resize=None),
    aux_nets=dict(
        landmark=dict(
            type='MobileFaceNet', out_names=('conv_4', ), landmark_input='imagenet',
            bn_mode='eval', frozen=True)),
    neck=dict(
        type='ProductCrossAttention', img_channels=256, lm_channels=128, embed_dim=768,
        num_patches=196, depth=2, num_heads=8, mlp_ratio=4., heatmap_mode='max',
        heatmap_norm='none', cross_attention=True, qkv_mode='shared', update_landmark=False,
        prenorm_attn=True, eq5_literal=False, drop_mode='dropout', drop_ratio=0.5, se_gate=True,
        pos_embed='shared'),
    head=dict(
        type='FERClsHead', num_classes=7, in_channels=768,
        losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0),
                dict(type='NeAALoss', neutral_class='Neutral', classes='rafdb',
                     loss_weight=0.01, feat_key='cls_token')],
        # as POSTER++'s ViT head (the paper does not say): trunc-normal std 0.01, bias 0
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01, bias=0.)),
)
