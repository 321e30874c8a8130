# QCS on AffectNet-8 (qcs.md §10): as qcs_affectnet7.py (4 branches, SAM(Adam) ρ 0.05, lr 4e-6,
# batch 24 quadruplets, N_train/12 class-balanced anchors per mini-epoch, ExponentialLR(0.98),
# the same augmentation) with 8 classes, 100 (mini-)epochs and VIT_cross dropout 0.0 instead
# of 0.4.
_base_ = ['./qcs_affectnet7.py']
num_classes = 8
model = dict(
    head=dict(num_classes=num_classes),
    cross_vit=dict(drop_ratio=0.0),
)
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(dataset=dict(num_classes=num_classes)))
val_dataloader = dict(dataset=dict(num_classes=num_classes))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=100)
