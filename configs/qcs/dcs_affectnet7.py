# DCS on AffectNet-7 (qcs.md §10): 2 branches (a, p), base network POSTER++ w/o landmarks (IR-50
# from ir50.pth) + training-only cross stage. SAM(Adam) ρ 0.05, lr 9e-6, batch 48 pairs, 100
# (mini-)epochs, ExponentialLR(0.98) per epoch, weight decay 0. VIT_base / VIT_cross dropout 0.0 /
# 0.4; CSA residual 'post'. Anchors: class-balanced sampling with replacement (weight 1/count),
# N_train/8 anchors per epoch; the LR decays per such mini-epoch. Test = the official validation
# set (500 per class). Augmentation (§10.2): Resize(236) → HFlip → RandomRotation(12) →
# RandomCrop(224) → ColorJitter(0.2, 0.2, 0.2, 0.1) → RandomErasing(0.03–0.1); test Resize(236) →
# CenterCrop(224). Paper-only option (off): adding RAF-DB/FERPlus Fear and Disgust images to the
# training set with ExtraClassSamples, as configs/qcs/qcs_affectnet8_extra-minority.py does.
_base_ = ['./qcs_affectnet7.py']
model = dict(
    type='DCSClassifier',
    num_branches=2,
    cross_neck=dict(mode='dcs_s'),
)
train_dataloader = dict(
    batch_size=48,
    sampler=dict(num_samples=1 / 8),
    # two branches: no negatives (negative_mode is unused; the default is stated)
    dataset=dict(num_branches=2, negative_mode='frequency'))
val_dataloader = dict(batch_size=48)
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=9e-6))
train_cfg = dict(max_epochs=100)
auto_scale_lr = dict(base_batch_size=48)
