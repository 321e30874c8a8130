# Tiny CPU PCDA + NeAA on the `make demo` data (SynthFER written in the RAF-DB layout,
# _base_/datasets/synthfer_rafdb.py) at 64×64, the input of the baseline, DAN and LAN SynthFER
# rows it is compared with (the paper feeds 112×112; pcda_ir50_rafdb.py keeps that): the modules
# of pcda_ir50_rafdb.py at reduced width and resolution — IR-50 unit counts at 1/4 width
# (base_channels=16: stage 3 is 64×8×8), MobileFaceNet at 1/2 width (conv_4 is 64×8×8; the
# network of configs/landmarks/mobilefacenet_synthfer_64.py, whose checkpoint it freezes;
# gdc_kernel=4 so that checkpoint loads strictly; run_all=False: its GDC landmark head is not
# needed here), 64 + 1 tokens of width 128, 2 cross blocks of 4 heads, dropout 0 (short runs on
# little data, as poster_base_synthfer.py); CE + 0.01·NeAA (Neutral = index 6 of the SynthFER /
# RAF-DB order). Adam 3e-4 (see below), cosine, 5 epochs.
#
# The landmark network is frozen and loaded from the 64 px SynthFER landmark-regression run
# (train it first; without the file, init_weights stops with the path it looked for):
#   python tools/train.py configs/landmarks/mobilefacenet_synthfer_64.py
# (its val NME is in docs/pcda.md). The prefix selects the MobileFaceNet part of that
# classifier-level checkpoint; loaded strictly (tests/test_models/test_necks/test_pcda_model.py
# checks that the two configs fit).
# Why 64 px: at 112 px one epoch (125 iterations of 64) took ~15 min on one idle CPU thread
# (8.7 training samples/s, tools/analysis/benchmark.py --train --train-batch-size 64), at 64 px
# 28.9 samples/s (~4.6 min), which makes the four-row ablation
# (tools/analysis/run_table.py pcda_synthfer) fit a working session. One epoch at 112 px was
# not enough from random initialisation: that run and its no-product child ended at the
# chance-level loss (1.948 against ln 7 = 1.946), while the model fits a fixed batch of 32
# faces (loss 1.96 → 1.12 in 25 Adam steps at 1e-3, tools/analysis/overfit_batch.py).
_base_ = [
    '../_base_/models/pcda_ir50.py',
    '../_base_/datasets/synthfer_rafdb.py',
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
img_size = 64
landmark_checkpoint = 'work_dirs/mobilefacenet_synthfer_64/epoch_5.pth'
max_epochs = 5
model = dict(
    backbone=dict(base_channels=16),
    aux_nets=dict(landmark=dict(
        width_mult=0.5, gdc_kernel=4, run_all=False,
        pretrained=dict(checkpoint=landmark_checkpoint, prefix='backbone.'))),
    neck=dict(img_channels=64, lm_channels=64, embed_dim=128, num_patches=64, depth=2,
              num_heads=4, drop_ratio=0.),
    head=dict(
        in_channels=128,
        losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0),
                dict(type='NeAALoss', neutral_class='Neutral', classes='synthfer',
                     loss_weight=0.01, feat_key='cls_token')]),
)
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend={{_base_.resize_backend}}),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend={{_base_.resize_backend}}),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Adam at 3e-4, not the 1e-3 of the ResNet-18 SynthFER configs: at 1e-3 this model collapsed to
# a constant output — all four rows of run_table.py pcda_synthfer at 14.29 % (one class) and loss
# ln 7 for all 5 epochs; `tools/analysis/overfit_batch.py configs/pcda/pcda_ir50_synthfer.py
# --fresh --num 64 --steps 41 --every 5 --lr 1e-3` shows the head input's spread over the batch
# falling 0.0718 → 0.0024 — while at 3e-4 the same rows learn (PCDA + NeAA 51.75 % after 5
# epochs; docs/pcda.md). The paper's own rate is lower still (3.5e-5, for 200 epochs).
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs, eta_min=1e-5,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
