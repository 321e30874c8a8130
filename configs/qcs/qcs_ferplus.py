# QCS on FERPlus (qcs.md §10): 8 classes (FERPlus order), train on Training, report on
# PrivateTest. SAM(Adam) ρ 0.05, lr 3.5e-6, batch 24 quadruplets, 150 epochs, ExponentialLR(0.98)
# per epoch, weight decay 0; VIT_cross dropout 0.2 (the 8-class ViT file also applies it after the
# attention projection); CSA post-norm-like; n from all images of the other classes.
# Augmentation (§10.2): Resize(232) → HFlip → RandomRotation(10) → RandomCrop(224) → ColorJitter →
# RandomErasing(0.02–0.1); test Resize(232) → CenterCrop(224).
_base_ = [
    '../_base_/models/poster_base_ir50.py',
    '../_base_/datasets/ferplus.py',
    '../_base_/default_runtime.py',
]
num_classes = 8
model = dict(
    type='QCSClassifier',
    num_branches=4,
    branch_bn='separate',
    connection='vit',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(pretrained='checkpoints/ir50.pth'),
    neck=dict(vit=dict(depth=2, num_heads=8, mlp_ratio=4., drop_ratio=0., proj_drop_ratio=0.)),
    head=dict(num_classes=num_classes),
    cross_neck=dict(type='CrossSimilarityAttention', mode='qcs_sd', gamma=1.0, minmax='batch',
                    residual_style='post'),
    cross_vit=dict(depth=1, num_heads=8, mlp_ratio=4., drop_ratio=0.2, proj_drop_ratio=0.2),
)

resize = 232
crop = 224
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/Resize', size=resize),  # shorter side (FER images are square)
    dict(type='torchvision/RandomHorizontalFlip', p=0.5),
    dict(type='torchvision/RandomRotation', degrees=10),
    dict(type='torchvision/RandomCrop', size=crop),
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
    dict(type='torchvision/Resize', size=resize),
    dict(type='torchvision/CenterCrop', size=crop),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=24,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='QuadrupletDataset', num_branches=4, negative_mode='frequency', seed=0,
        dataset=dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
                     split='Training', num_classes=num_classes, pipeline=train_pipeline)))
val_dataloader = dict(batch_size=24, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='SAMOptimWrapper', rho=0.05, adaptive=False,
    optimizer=dict(type='Adam', lr=3.5e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.))
param_scheduler = dict(type='ExponentialLR', gamma=0.98, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=24, enable=False)
model_wrapper_cfg = dict(type='SAMDistributedDataParallel')
custom_hooks = [dict(type='DatasetEpochHook')]  # RunInfoHook is a default hook
