# DAN on AffectNet-8 — the official affectnet.py recipe (specs/dan.md §3.2), identical to
# dan_r18_affectnet7.py except for the classes: 8 (Contempt kept) and K = 8 affinity centers
# (= number of classes). Class-balanced sampling with replacement, Adam 1e-4 with
# ExponentialLR(0.6) per epoch, 10 epochs, batch 256.
_base_ = ['./dan_r18_affectnet7.py']
num_classes = 8
model = dict(
    head=dict(
        num_classes=num_classes,
        losses=[
            dict(type='FERCrossEntropyLoss', loss_weight=1.0),
            dict(type='AffinityLoss', num_centers=num_classes, feat_dim=512, loss_weight=1.0),
            dict(type='PartitionLoss', mode='official', loss_weight=1.0),
        ]),
)
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(num_classes=num_classes))
val_dataloader = dict(dataset=dict(num_classes=num_classes))
test_dataloader = val_dataloader
