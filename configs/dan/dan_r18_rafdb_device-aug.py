# configs/dan/dan_r18_rafdb.py (the official DAN recipe) with the horizontal flip and the random
# erasing moved from the CPU pipeline to the data preprocessor (docs/device_augmentation.md).
# Official order: Resize(224, PIL bilinear) → flip → RandomApply(p 0.2, rotation ±20° +
# RandomCrop(224, padding 32)) → Normalize → RandomErasing(p 0.5, scale (0.02, 0.25),
# ratio (0.3, 3.3), value 0). Here the CPU keeps the resize and the RandomApply (their ops are
# not batch ops, and they must see the 224 px image), and the batch gets flip → normalise →
# erasing. Moving the flip after the rotation/crop leaves the distribution unchanged: a
# mirrored rotation by θ is a rotation by −θ of the mirror, and θ ~ U(−20°, 20°) is symmetric;
# a mirrored crop at offset o is the crop at 64 − o of the mirror, and o ~ U{0..64} is
# symmetric. The erasing now fills exactly 0 in normalised units (the CPU stand-in writes the
# mean colour rounded to uint8).
_base_ = ['./dan_r18_rafdb.py']
img_size = 224
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend='pillow', interpolation='bilinear'),
    dict(type='RandomApply', prob=0.2, transforms=[
        dict(type='NumpyToPIL', to_rgb=False),
        dict(type='torchvision/RandomRotation', degrees=20),
        dict(type='torchvision/RandomCrop', size=img_size, padding=32),
        dict(type='PILToNumpy', to_bgr=False),
    ]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
data_preprocessor = dict(
    type='FERDataPreprocessor',
    device_augments=[
        dict(type='BatchHorizontalFlip', prob=0.5),
        dict(type='BatchRandomErasing', prob=0.5, scale=(0.02, 0.25), ratio=(0.3, 3.3),
             value=0.0),
    ],
    seed=None)  # None: drawn from torch's generator, which the Runner seeds (randomness.seed)
