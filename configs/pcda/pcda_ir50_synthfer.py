# Tiny CPU PCDA + NeAA on the `make demo` data (SynthFER written in the RAF-DB layout,
# _base_/datasets/synthfer_rafdb.py), every image resized to 112×112 as the paper feeds both
# backbones: the modules of pcda_ir50_rafdb.py at reduced width — IR-50 unit counts at 1/4 width
# (base_channels=16: stage 3 is 64×14×14), MobileFaceNet at 1/2 width (conv_4 is 64×14×14; the
# width of configs/landmarks/mobilefacenet_synthfer.py, whose checkpoint it freezes;
# run_all=False: its GDC landmark head is not needed here), 196 + 1 tokens of width 128, 2 cross
# blocks of 4 heads, dropout 0 (short runs on little data, as poster_base_synthfer.py);
# CE + 0.01·NeAA (Neutral = index 6 of the SynthFER / RAF-DB order). Adam 1e-3, cosine, 5 epochs.
#
# The landmark network is frozen and loaded from the SynthFER landmark-regression run (train it
# first; without the file, init_weights stops with the path it looked for):
#   python tools/train.py configs/landmarks/mobilefacenet_synthfer.py
# (val NME 21.88 % of the inter-ocular distance after its 5 epochs, the mean-shape baseline is
# 33.27 %: a weak but real landmark prior, docs/pcda.md). The prefix selects the MobileFaceNet
# part of that classifier-level checkpoint; loaded strictly
# (tests/test_models/test_necks/test_pcda_model.py checks that the two configs fit).
# Budget: 5 epochs. One epoch (125 iterations of 64) is not enough from random initialisation:
# a 1-epoch run of this config and of its no-product child both ended at the chance-level loss
# (1.948 against ln 7 = 1.946; docs/pcda.md), while the same model fits a fixed batch of 32 faces
# (loss 1.96 → 1.12 in 25 Adam steps at 1e-3, tools/analysis/overfit_batch.py). On the shared
# 2-core CPU an epoch takes ~25 min at one thread, so the ablation
# (tools/analysis/run_table.py pcda_synthfer) is a GPU-sized job.
_base_ = [
    '../_base_/models/pcda_ir50.py',
    '../_base_/datasets/synthfer_rafdb.py',
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
img_size = 112
landmark_checkpoint = 'work_dirs/mobilefacenet_synthfer/epoch_5.pth'
max_epochs = 5
model = dict(
    backbone=dict(base_channels=16),
    aux_nets=dict(landmark=dict(
        width_mult=0.5, run_all=False,
        pretrained=dict(checkpoint=landmark_checkpoint, prefix='backbone.'))),
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
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs, eta_min=1e-5,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
