# "POSTER++ w/o landmarks" baseline (qcs.md §1, paper Table 1 row 1: RAF-DB 92.05): the QCS base
# network trained alone with cross-entropy on RAF-DB, with the QCS RAF-DB recipe (qcs.md §10, non-‡
# setting) minus the cross branches: one view per image, batch 24, SAM(Adam) ρ 0.05, lr 4e-6,
# betas (0.9, 0.999), weight decay 0, ExponentialLR(0.98) per epoch, 200 epochs, IR-50 from
# ir50.pth. For plain Adam (one pass per iteration, half the cost) use
# optim_wrapper=dict(type='OptimWrapper', optimizer=...).
_base_ = [
    '../_base_/models/poster_base_ir50.py',
    '../_base_/datasets/rafdb.py',
    '../_base_/default_runtime.py',
]
# MS-Celeb-1M IR-50 of POSTER_V2 / QCS (layout A, 304 entries), loaded strictly at init_weights;
# the layout-B face.evoLVe file is accepted too (docs/backbones.md).
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(pretrained='checkpoints/ir50.pth'),
)

img_size = 224
# The QCS/DCS RAF-DB augmentation (qcs.md §10.2), identical to configs/qcs/qcs_rafdb.py so that the
# baseline differs from QCS only by the cross branches: torchvision's transforms on PIL images,
# then torchvision-style RandomErasing(value 0 after Normalize), applied before the data
# preprocessor's normalisation by filling with what normalises to 0.
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/Resize', size=(img_size, img_size)),
    dict(type='torchvision/RandomHorizontalFlip', p=0.5),
    dict(type='torchvision/ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='NormalizedRandomErasing', prob=0.5, scale=(0.02, 0.1), ratio=(0.3, 3.3),
         value=0.0, mean={{_base_.data_preprocessor.mean}},
         std={{_base_.data_preprocessor.std}}),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/Resize', size=(img_size, img_size)),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=24, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=24, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='SAMOptimWrapper', rho=0.05, adaptive=False,
    optimizer=dict(type='Adam', lr=4e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.))
param_scheduler = dict(type='ExponentialLR', gamma=0.98, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=24, enable=False)
