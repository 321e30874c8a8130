# QCS on FERPlus (qcs.md §10): 8 classes (FERPlus order), train on Training, report on
# PrivateTest. SAM(Adam) ρ 0.05, lr 3.5e-6, batch 24 quadruplets, 150 epochs, ExponentialLR(0.98)
# per epoch, weight decay 0; VIT_cross dropout 0.2 (the 8-class ViT file also applies it after the
# attention projection); CSA post-norm-like; n from all images of the other classes.
# Augmentation (§10.2, _base_/datasets/qcs_ferplus.py): Resize((232, 232)) → HFlip →
# RandomRotation(10) → RandomCrop(224) → ColorJitter → RandomErasing(0.02–0.1); test
# Resize((232, 232)) → CenterCrop(224).
_base_ = [
    '../_base_/models/qcs_poster_ir50.py',
    '../_base_/datasets/qcs_ferplus.py',
    '../_base_/schedules/sam_adam_exp.py',
    '../_base_/default_runtime.py',
]
num_classes = 8
model = dict(
    head=dict(num_classes=num_classes),
    cross_vit=dict(drop_ratio=0.2, proj_drop_ratio=0.2),
)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='QuadrupletDataset', num_branches=4, negative_mode='frequency', seed=0,
        dataset={{_base_.train_dataloader.dataset}}))
optim_wrapper = dict(optimizer=dict(lr=3.5e-6))
train_cfg = dict(max_epochs=150)
custom_hooks = [dict(type='DatasetEpochHook')]  # RunInfoHook is a default hook
