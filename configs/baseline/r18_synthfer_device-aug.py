# configs/baseline/r18_synthfer.py with the train pipeline's per-image work moved to the data
# preprocessor (docs/device_augmentation.md): the CPU only decodes the 100×100 JPEG; the resize
# to 64 (bilinear, no antialias = cv2 INTER_LINEAR, mmcv Resize's default backend) and the
# horizontal flip (p 0.5, per sample, seeded) run on the batch, on its device, before the
# normalisation. Same model (same parameter count), same distribution of training inputs up to
# the CPU resize's uint8 rounding (≤ 1 grey level, tests/test_models/test_device_augment.py).
# Validation / test keep the base config's CPU Resize: device_augments only run in training.
_base_ = ['./r18_synthfer.py']
img_size = 64
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
data_preprocessor = dict(
    type='FERDataPreprocessor',
    device_augments=[
        dict(type='BatchResize', size=img_size, interpolation='bilinear', antialias=False),
        dict(type='BatchHorizontalFlip', prob=0.5),
    ],
    seed=None)  # None: drawn from torch's generator, which the Runner seeds (randomness.seed)
