# PCDA paper Table 1 row Cross-attn: RAF-DB 91.49 % in the paper (the full model
# D+C+N is pcda_ir50_rafdb.py, 92.31 %). Without the dot-product attention f_fusion = f_img
# (heatmap_mode='none'); without the cross attention the blocks are plain self-attention over the
# fusion tokens (mmfer's choice; the paper does not say what replaces them).
_base_ = ['./pcda_ir50_rafdb.py']
model = dict(
    neck=dict(heatmap_mode='none', cross_attention=True),
    head=dict(losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0)]),
)
