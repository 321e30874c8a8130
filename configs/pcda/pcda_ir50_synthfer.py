# Tiny CPU PCDA + NeAA on the `make demo` data (SynthFER written in the RAF-DB layout,
# _base_/datasets/synthfer_rafdb.py, 64 px): the modules of pcda_ir50_rafdb.py at reduced width —
# IR-50 unit counts at 1/4 width (base_channels=16: stage 3 is 64×8×8), MobileFaceNet at 1/4
# width (conv_4 is 32×8×8; run_all=False: at 64 px its conv_6_sep map is 4×4, too small for the
# 7×7 GDC landmark head, which is therefore not run), 64 + 1 tokens of width 128, 2 cross blocks
# of 4 heads, dropout 0 (short runs on little data, as poster_base_synthfer.py); CE + 0.01·NeAA
# (Neutral = index 6 of the SynthFER / RAF-DB order). Adam 1e-3, cosine, 5 epochs.
#
# The landmark network is frozen but has NO pretrained weights yet (pretrained=None): it is a
# random, fixed feature extractor until the SynthFER landmark-regression training (68 rendered
# landmarks, NME metric) provides a checkpoint; then set
#   model.aux_nets.landmark.pretrained=dict(checkpoint='<work_dir>/best.pth', prefix='backbone.')
# (the prefix selects the MobileFaceNet part of that classifier-level checkpoint).
_base_ = [
    '../_base_/models/pcda_ir50.py',
    '../_base_/datasets/synthfer_rafdb.py',
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(base_channels=16),
    aux_nets=dict(landmark=dict(width_mult=0.25, run_all=False, pretrained=None)),
    neck=dict(img_channels=64, lm_channels=32, embed_dim=128, num_patches=64, depth=2,
              num_heads=4, drop_ratio=0.),
    head=dict(
        in_channels=128,
        losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0),
                dict(type='NeAALoss', neutral_class='Neutral', classes='synthfer',
                     loss_weight=0.01, feat_key='cls_token')]),
)
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=5, eta_min=1e-5,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
