# DCS on FERPlus (qcs.md §10): 2 branches (a, p), 8 classes. SAM(Adam) ρ 0.05, lr 8e-6, batch 24
# pairs (the paper states 48), 150 epochs, ExponentialLR(0.98) per epoch, weight decay 0,
# VIT_cross dropout 0.2 (8-class ViT file: also after the attention projection), CSA pre-norm.
# Augmentation as QCS FERPlus with Resize((234, 234)) instead of (232, 232) (the paper states 234
# for both; the official main_DCS_ferplus.py squashes to the square, as QCS does). The pipelines
# are restated because an mmengine config cannot parametrise a base's list by one value.
_base_ = ['./qcs_ferplus.py']
model = dict(
    type='DCSClassifier',
    num_branches=2,
    cross_neck=dict(mode='dcs_s', residual_style='pre'),
    cross_vit=dict(drop_ratio=0.2, proj_drop_ratio=0.2),
)
resize = 234
crop = 224
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/Resize', size=(resize, resize)),
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
    dict(type='torchvision/Resize', size=(resize, resize)),
    dict(type='torchvision/CenterCrop', size=crop),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=24,
    dataset=dict(num_branches=2, dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(batch_size=24, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=8e-6))
