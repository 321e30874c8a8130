# QCS on AffectNet-7 (qcs.md §10): 4 branches (a, p, n, n2), base network POSTER++ w/o landmarks
# (IR-50 from ir50.pth) + training-only cross stage. SAM(Adam) ρ 0.05, lr 4e-6, batch 24
# quadruplets, 150 (mini-)epochs, ExponentialLR(0.98) per epoch, weight decay 0. VIT_base /
# VIT_cross dropout 0.0 / 0.4; CSA residual 'post'. Anchors: class-balanced sampling with
# replacement (weight 1/count), N_train/12 anchors per epoch; the LR decays per such mini-epoch.
# Test = the official validation set (500 per class). Negatives: y′ uniform over the other classes,
# n and n2 two images of y′ (negative_mode='balanced'). Augmentation (§10.2): Resize(236) → HFlip →
# RandomRotation(12) → RandomCrop(224) → ColorJitter(0.2, 0.2, 0.2, 0.1) → RandomErasing(0.03–0.1);
# test Resize(236) → CenterCrop(224). Paper-only option (off): adding RAF-DB/FERPlus Fear and
# Disgust images to the training set with ExtraClassSamples, as
# configs/qcs/qcs_affectnet8_extra-minority.py does for 8 classes.
_base_ = [
    '../_base_/models/poster_base_ir50.py',
    '../_base_/datasets/affectnet7.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
model = dict(
    type='QCSClassifier',
    num_branches=4,
    branch_bn='separate',
    connection='vit',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(pretrained='checkpoints/ir50.pth'),
    neck=dict(vit=dict(depth=2, num_heads=8, mlp_ratio=4., drop_ratio=0.0, proj_drop_ratio=0.0)),
    head=dict(num_classes=num_classes),
    cross_neck=dict(type='CrossSimilarityAttention', mode='qcs_sd', gamma=1.0, minmax='batch',
                    residual_style='post'),
    cross_vit=dict(depth=1, num_heads=8, mlp_ratio=4., drop_ratio=0.4, proj_drop_ratio=0.0),
)

resize = 236
crop = 224
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/Resize', size=resize),
    dict(type='torchvision/RandomHorizontalFlip', p=0.5),
    dict(type='torchvision/RandomRotation', degrees=12),
    dict(type='torchvision/RandomCrop', size=crop),
    dict(type='torchvision/ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='NormalizedRandomErasing', prob=0.5, scale=(0.03, 0.1), ratio=(0.3, 3.3),
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
    sampler=dict(type='ClassBalancedSampler', num_samples=1 / 12),
    dataset=dict(
        _delete_=True,
        type='QuadrupletDataset', num_branches=4, negative_mode='balanced', seed=0,
        dataset=dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
                     split='train', num_classes=num_classes, pipeline=train_pipeline)))
val_dataloader = dict(batch_size=24, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='SAMOptimWrapper', rho=0.05, adaptive=False,
    optimizer=dict(type='Adam', lr=4e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.))
param_scheduler = dict(type='ExponentialLR', gamma=0.98, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=24, enable=False)
model_wrapper_cfg = dict(type='SAMDistributedDataParallel')
custom_hooks = [dict(type='DatasetEpochHook')]  # RunInfoHook is a default hook
