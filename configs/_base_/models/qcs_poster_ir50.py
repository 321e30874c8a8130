# QCS (specs/qcs.md §2, §5): the POSTER++-w/o-landmarks base network of ./poster_base_ir50.py with
# the IR-50 from ir50.pth (MS-Celeb-1M weights of POSTER_V2 / QCS, loaded strictly at
# init_weights), 4 branches (a, p, n, n2) with per-branch BatchNorm statistics (official: one
# backbone call per branch), and the training-only cross stage: 3 CSA (mode 'qcs_sd', γ 1,
# batch min-max, 'post' residual) → cross ViT (depth 1, 8 heads) → cross head (the preset's
# FERClsHead, loss_cross = 0.5 · mean-over-views CE). The base head's CE has weight 0.5
# (loss_base), so L = 1/(2V) Σ_X [CE(base_X) + CE(cross_X)], the spec's average of 2V CEs.
# Recipes state the class count and the dropouts that differ (qcs.md §10.1); DCS configs set
# type='DCSClassifier', num_branches=2, cross_neck.mode='dcs_s'.
_base_ = ['./poster_base_ir50.py']
model = dict(
    type='QCSClassifier',
    num_branches=4,
    branch_bn='separate',
    connection='vit',
    backbone=dict(pretrained='checkpoints/ir50.pth'),
    head=dict(losses=[dict(type='FERCrossEntropyLoss', loss_weight=0.5, loss_name='loss_base')]),
    cross_neck=dict(type='CrossSimilarityAttention', mode='qcs_sd', gamma=1.0, minmax='batch',
                    residual_style='post'),
    cross_vit=dict(depth=1, num_heads=8, mlp_ratio=4., drop_ratio=0., proj_drop_ratio=0.),
)
