# DAN on AffectNet-7 — the official affectnet.py recipe (specs/dan.md §3.2): class-balanced
# sampling with replacement (N_train draws per epoch), Adam 1e-4 with ExponentialLR(0.6) per
# epoch, 10 epochs (the README command; the released models are from epochs 5 and 6), batch 256,
# K = 7 affinity centers (= number of classes).
# AffectNet-7 drops Contempt (code 7) from train and val (dataset num_classes=7).
_base_ = [
    '../_base_/models/dan_r18.py',
    '../_base_/datasets/affectnet7.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
# K = number of classes, as the official affectnet.py (AffinityLoss(num_class=args.num_class));
# the base's default is the official RAF-DB K = 8
model = dict(head=dict(losses=[
    dict(type='FERCrossEntropyLoss', loss_weight=1.0),
    dict(type='AffinityLoss', num_centers=num_classes, feat_dim=512, loss_weight=1.0),
    dict(type='PartitionLoss', mode='official', loss_weight=1.0),
]))

# official: Resize 224 → flip → RandomApply(p=0.7, RandomAffine(±20°, translate (0.2, 0.2),
# scale (0.8, 1))) → Normalize → RandomErasing() with torchvision defaults (p 0.5,
# scale (0.02, 0.33), value 0 after normalisation).
img_size = 224
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomApply', prob=0.7, transforms=[
        dict(type='NumpyToPIL', to_rgb=False),
        dict(type='torchvision/RandomAffine', degrees=20, translate=(0.2, 0.2), scale=(0.8, 1.0)),
        dict(type='PILToNumpy', to_bgr=False),
    ]),
    dict(type='NormalizedRandomErasing', prob=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3),
         value=0.0, mean={{_base_.data_preprocessor.mean}},
         std={{_base_.data_preprocessor.std}}),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend='pillow', interpolation='bilinear'),
    dict(type='PackInputs'),
]
# DAN used the pre-cropped AffectNet release (train_set/val_set with *_exp.npy annotations):
# layout='npy'. For the CSV release set layout='csv', crop_face=True.
train_dataloader = dict(
    batch_size=256,
    # weights 1/count(class), with replacement, N_train samples per epoch (official sampler)
    sampler=dict(type='ClassBalancedSampler', num_samples=1.0),
    dataset=dict(layout='npy', num_classes=num_classes, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    dataset=dict(layout='npy', num_classes=num_classes, pipeline=test_pipeline))
test_dataloader = val_dataloader

# Adam over the model and the affinity centers, no weight decay; lr_e = 1e-4 · 0.6^(e−1)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4, weight_decay=0.0))
param_scheduler = dict(type='ExponentialLR', gamma=0.6, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256, enable=False)
