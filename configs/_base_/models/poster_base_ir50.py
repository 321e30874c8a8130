# POSTER++ without landmarks = the QCS/DCS base network (qcs.md §1): 224 input, nearest resize to
# 112, IR-50 (3 stages, no output layer) → reduce1-3 + embed1-3 → 147 tokens × 768 → ViT depth 2
# (cls → SE gate) → linear head. 40,700,039 parameters for 7 classes, 8.12 GMACs at 224.
# Initialise the IR-50 from MS-Celeb weights with backbone=dict(pretrained='.../ir50.pth')
# (strict, layout-checked load; see docs/backbones.md).
model = dict(
    type='FERClassifier',
    backbone=dict(
        type='IResNet',
        depth=50,
        num_stages=3,
        out_indices=(0, 1, 2),
        input_resize=112,
        resize_mode='nearest'),
    neck=dict(
        type='POSTERBase',
        in_channels=(64, 128, 256),
        embed_dim=768,
        vit=dict(depth=2, num_heads=8, mlp_ratio=4., drop_ratio=0., proj_drop_ratio=0.)),
    head=dict(
        type='FERClsHead',
        num_classes=7,
        in_channels=768,
        losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0)],
        # the official head lives inside the ViT and shares its init: trunc-normal std 0.01, bias 0
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01, bias=0.)),
)
