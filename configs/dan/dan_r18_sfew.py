# DAN on SFEW 2.0 (train on Train, evaluate on Val). No official code (specs/dan.md §3.3):
# paper — batch 16, lr 0.001, 40 epochs, RetinaFace-aligned faces at 224; the author's suggested
# transform (issue #7) — flip + RandomApply(p=0.5, RandomAffine(20, translate (0.2, 0.2),
# scale (0.8, 1))), no RandomErasing. Optimizer and schedule are not specified — choice: SGD
# momentum 0.9, weight decay 1e-4, StepLR(10, 0.1), plain shuffle. Class-balanced sampling is an
# option: train_dataloader.sampler=dict(type='ClassBalancedSampler', num_samples=1.0).
_base_ = [
    '../_base_/models/dan_r18.py',
    '../_base_/datasets/sfew.py',
    '../_base_/default_runtime.py',
]
num_classes = 7

img_size = 224
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='NumpyToPIL', to_rgb=False),
        dict(type='torchvision/RandomAffine', degrees=20, translate=(0.2, 0.2), scale=(0.8, 1.0)),
        dict(type='PILToNumpy', to_bgr=False),
    ]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend='pillow', interpolation='bilinear'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16, enable=False)
