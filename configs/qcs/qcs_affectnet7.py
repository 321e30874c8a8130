# QCS on AffectNet-7 (qcs.md §10): 4 branches (a, p, n, n2), base network POSTER++ w/o landmarks
# (IR-50 from ir50.pth) + training-only cross stage. SAM(Adam) ρ 0.05, lr 4e-6, batch 24
# quadruplets, 150 (mini-)epochs, ExponentialLR(0.98) per epoch, weight decay 0. VIT_base /
# VIT_cross dropout 0.0 / 0.4; CSA residual 'post'. Anchors: class-balanced sampling with
# replacement (weight 1/count), N_train/12 anchors per epoch; the LR decays per such mini-epoch.
# Test = the official validation set (500 per class). Negatives: y′ uniform over the other classes,
# n and n2 two images of y′ (negative_mode='balanced'). Augmentation (§10.2,
# _base_/datasets/qcs_affectnet7.py): Resize((236, 236)) → HFlip → RandomRotation(12) →
# RandomCrop(224) → ColorJitter(0.2, 0.2, 0.2, 0.1) → RandomErasing(0.03–0.1); test
# Resize((236, 236)) → CenterCrop(224). Paper-only option (off): adding RAF-DB/FERPlus Fear and
# Disgust images to the training set with ExtraClassSamples, as
# configs/qcs/qcs_affectnet8_extra-minority.py does for 8 classes.
_base_ = [
    '../_base_/models/qcs_poster_ir50.py',
    '../_base_/datasets/qcs_affectnet7.py',
    '../_base_/schedules/sam_adam_exp.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
model = dict(head=dict(num_classes=num_classes), cross_vit=dict(drop_ratio=0.4))
train_dataloader = dict(
    sampler=dict(type='ClassBalancedSampler', num_samples=1 / 12),
    dataset=dict(
        _delete_=True,
        type='QuadrupletDataset', num_branches=4, negative_mode='balanced', seed=0,
        dataset={{_base_.train_dataloader.dataset}}))
optim_wrapper = dict(optimizer=dict(lr=4e-6))
train_cfg = dict(max_epochs=150)
custom_hooks = [dict(type='DatasetEpochHook')]  # RunInfoHook is a default hook
