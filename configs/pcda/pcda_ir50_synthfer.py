# Tiny CPU PCDA + NeAA on the `make demo` data (SynthFER written in the RAF-DB layout,
# _base_/datasets/synthfer_rafdb.py), every image resized to 112×112 as the paper feeds both
# backbones: the modules of pcda_ir50_rafdb.py at reduced width — IR-50 unit counts at 1/4 width
# (base_channels=16: stage 3 is 64×14×14), MobileFaceNet at 1/2 width (conv_4 is 64×14×14; the
# width of configs/landmarks/mobilefacenet_synthfer.py, whose checkpoint it is meant to freeze;
# run_all=False: its GDC landmark head is not needed here), 196 + 1 tokens of width 128, 2 cross
# blocks of 4 heads, dropout 0 (short runs on little data, as poster_base_synthfer.py);
# CE + 0.01·NeAA (Neutral = index 6 of the SynthFER / RAF-DB order). Adam 1e-3, cosine, 5 epochs.
#
# The landmark network is frozen but has NO pretrained weights here (pretrained=None): it is a
# random, fixed feature extractor until the SynthFER landmark-regression run
#   python tools/train.py configs/landmarks/mobilefacenet_synthfer.py
# provides a checkpoint; then replace `pretrained=None` below by
#   pretrained=dict(checkpoint='work_dirs/mobilefacenet_synthfer/epoch_8.pth', prefix='backbone.')
# (the prefix selects the MobileFaceNet part of that classifier-level checkpoint; loaded strictly,
# tests/test_models/test_necks/test_pcda_model.py checks that the two configs fit).
_base_ = [
    '../_base_/models/pcda_ir50.py',
    '../_base_/datasets/synthfer_rafdb.py',
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
img_size = 112
model = dict(
    backbone=dict(base_channels=16),
    aux_nets=dict(landmark=dict(width_mult=0.5, run_all=False, pretrained=None)),
    neck=dict(img_channels=64, lm_channels=64, embed_dim=128, num_patches=196, depth=2,
              num_heads=4, drop_ratio=0.),
    head=dict(
        in_channels=128,
        losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0),
                dict(type='NeAALoss', neutral_class='Neutral', classes='synthfer',
                     loss_weight=0.01, feat_key='cls_token')]),
)
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=5, eta_min=1e-5,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
