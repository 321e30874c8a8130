# DCS on AffectNet-8 (qcs.md §10): 2 branches (a, p), base network POSTER++ w/o
# landmarks (IR-50 from ir50.pth) + training-only cross stage. SAM(Adam) ρ 0.05, lr 8e-6, batch 48
# pairs, 50 (mini-)epochs, ExponentialLR(0.98) per epoch, weight decay 0. VIT_base / VIT_cross
# dropout 0.2 / 0.5; CSA residual 'pre'.
# The 8-class official ViT file also applies drop_ratio after the attention projection.
# Anchors: class-balanced sampling with replacement (weight 1/count), N_train/8 anchors per epoch;
# the LR decays per such mini-epoch. Test = the official validation set (500 per class).
# Augmentation (§10.2): Resize(224) → HFlip → RandomErasing(0.02–0.1) (no jitter, crop or
# rotation); test Resize(224).
# Paper-only option (off): adding RAF-DB/FERPlus Fear, Disgust, Contempt images to the
# training set with ExtraClassSamples, as configs/qcs/qcs_affectnet8_extra-minority.py does.
_base_ = ['./dcs_affectnet7.py']
num_classes = 8
model = dict(
    neck=dict(vit=dict(drop_ratio=0.2, proj_drop_ratio=0.2)),
    head=dict(num_classes=num_classes),
    cross_neck=dict(residual_style='pre'),
    cross_vit=dict(drop_ratio=0.5, proj_drop_ratio=0.5),
)
data_preprocessor = dict(num_classes=num_classes)

resize = 224  # a plain resize to 224 × 224, no crop (the 7-class file resizes to 236, crops 224)
crop = 224
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/Resize', size=(resize, resize)),
    dict(type='torchvision/RandomHorizontalFlip', p=0.5),
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
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(dataset=dict(num_classes=num_classes, pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(num_classes=num_classes, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=8e-6))
train_cfg = dict(max_epochs=50)
