# RAF-DB with the QCS / DCS augmentation of the official scripts (specs/qcs.md §10.2), shared by
# qcs_rafdb, dcs_rafdb and poster_base_rafdb (so that the baseline differs from QCS only by the
# cross branches): Resize(224, 224) → HFlip → ColorJitter(0.2, 0.2, 0.2, 0.1) → ToTensor →
# Normalize → RandomErasing(p 0.5, scale (0.02, 0.1), ratio (0.3, 3.3), value 0); test
# Resize(224, 224). torchvision's own transforms on PIL images (mmpretrain's torchvision/
# wrappers); the erasing runs before the data preprocessor's normalisation, filling with what
# normalises to 0. Batch 24 (a QCS config's batch counts quadruplets: 96 images per pass).
_base_ = ['./rafdb.py']
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
train_dataloader = dict(batch_size=24, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=24, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
