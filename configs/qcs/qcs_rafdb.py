# QCS on RAF-DB (qcs.md §10, mmfer default = the non-‡ setting): 4 branches (a, p, n, n2), the
# base network POSTER++ w/o landmarks (IR-50 from ir50.pth) + training-only cross stage
# (3 CSA + VIT_cross), SAM(Adam) ρ 0.05, lr 4e-6, batch 24 quadruplets, 200 epochs,
# ExponentialLR(0.98) per epoch, weight decay 0. Negatives: n from all images of the other
# classes (y′ frequency-weighted), n2 from y′. Inference runs the base network only
# (40,700,039 params, 8.12 GMACs); the training model has 66,810,513 params.
# The ‡ setting (IR-50 from a trained QCS AffectNet-8 model, lr 3e-6) is qcs_rafdb_ft-affectnet8.py.
_base_ = [
    '../_base_/models/poster_base_ir50.py',
    '../_base_/datasets/rafdb.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
model = dict(
    type='QCSClassifier',
    num_branches=4,
    branch_bn='separate',  # official: one backbone call per branch (per-branch BN statistics)
    connection='vit',
    data_preprocessor={{_base_.data_preprocessor}},  # MultiViewDataPreprocessor (N×V×3×H×W)
    # MS-Celeb-1M IR-50 of POSTER_V2 / QCS, loaded strictly at init_weights
    backbone=dict(pretrained='checkpoints/ir50.pth'),
    neck=dict(vit=dict(depth=2, num_heads=8, mlp_ratio=4., drop_ratio=0., proj_drop_ratio=0.)),
    head=dict(num_classes=num_classes),
    cross_neck=dict(type='CrossSimilarityAttention', mode='qcs_sd', gamma=1.0, minmax='batch',
                    residual_style='post'),
    cross_vit=dict(depth=1, num_heads=8, mlp_ratio=4., drop_ratio=0., proj_drop_ratio=0.),
)

# qcs.md §10.2, QCS/DCS RAF-DB: Resize(224, 224) → HFlip → ColorJitter(0.2, 0.2, 0.2, 0.1) →
# ToTensor → Normalize → RandomErasing(p 0.5, scale (0.02, 0.1), ratio (0.3, 3.3), value 0).
# torchvision's own transforms on PIL images (mmpretrain's torchvision/ wrappers); the erasing
# runs before the data preprocessor's normalisation, filling with what normalises to 0.
img_size = 224
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
train_dataloader = dict(
    batch_size=24,  # quadruplets (96 images per pass)
    sampler=dict(type='DefaultSampler', shuffle=True),  # anchors: a shuffled pass
    dataset=dict(
        _delete_=True,
        type='QuadrupletDataset', num_branches=4, negative_mode='frequency', seed=0,
        dataset=dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
                     split='train', pipeline=train_pipeline)))
val_dataloader = dict(batch_size=24, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# SAM(Adam), ρ 0.05, non-adaptive; the official scripts parse --wd 1e-4 but never use it
optim_wrapper = dict(
    type='SAMOptimWrapper', rho=0.05, adaptive=False,
    optimizer=dict(type='Adam', lr=4e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.))
param_scheduler = dict(type='ExponentialLR', gamma=0.98, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=24, enable=False)
# multi-GPU: mmengine's DDP train_step bypasses the model's; this wrapper runs SAM's two passes
model_wrapper_cfg = dict(type='SAMDistributedDataParallel')
# partner draws are seeded by (seed, epoch, index): tell the dataset the epoch
custom_hooks = [dict(type='DatasetEpochHook')]  # RunInfoHook is a default hook
