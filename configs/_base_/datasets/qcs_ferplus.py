# FERPlus with the QCS augmentation of the official main_QCS_ferplus.py (specs/qcs.md §10.2):
# Resize((232, 232)) → HFlip → RandomRotation(10) → RandomCrop(224) → ColorJitter(0.2, 0.2, 0.2,
# 0.1) → ToTensor → Normalize → RandomErasing(p 0.5, scale (0.02, 0.1), ratio (0.3, 3.3),
# value 0); test Resize((232, 232)) → CenterCrop(224). The official resize squashes to a square
# (a (h, w) tuple), it does not keep the aspect ratio (issue 10 item 12): identical on square
# faces, different on non-square ones. Batch 24.
_base_ = ['./ferplus.py']
resize = 232
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
train_dataloader = dict(batch_size=24, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=24, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
