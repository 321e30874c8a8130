# PCDA + NeAA on RAF-DB (pcda.md §6, paper 4.2; Table 5: 92.31 %): 112×112 train and test,
# random horizontal flip + random erasing (p 0.5, scale (0.02, 0.1), value 0 after normalisation),
# test resize only; Adam lr 3.5e-5, weight decay 0, ExponentialLR(0.98) per epoch (POSTER++'s,
# not stated by the paper), batch 144 (the paper's, over two GPUs), 200 epochs.
# Weights: IR-50 MS-Celeb-1M (ir50.pth, strict layout-checked load) and the landmark detector
# converted with tools/model_converters/mobilefacenet_to_mmfer.py (the original
# mobilefacenet_model_best.pth.tar loads too: same names).
_base_ = [
    '../_base_/models/pcda_ir50.py',
    '../_base_/datasets/rafdb.py',
    '../_base_/default_runtime.py',
]
img_size = 112
model = dict(
    backbone=dict(pretrained='checkpoints/ir50.pth'),
    aux_nets=dict(landmark=dict(pretrained='checkpoints/mobilefacenet_mmfer.pth')),
)
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='NormalizedRandomErasing', prob=0.5, scale=(0.02, 0.1), ratio=(0.3, 3.3),
         value=0.0, mean={{_base_.data_preprocessor.mean}},
         std={{_base_.data_preprocessor.std}}),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=144, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=144, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=3.5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.))
# SAM as POSTER++ (two passes per step; NeAA anchors are recomputed in each):
# optim_wrapper = dict(type='SAMOptimWrapper', rho=0.05, adaptive=False, optimizer=...)
param_scheduler = dict(type='ExponentialLR', gamma=0.98, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=144, enable=False)
randomness = dict(seed=0, deterministic=False)
