# DAN (Wen et al., "Distract Your Attention", specs/dan.md §1): the Feature Clustering Network
# (torchvision-named ResNet-18 without pooling / fc) → 4 cross-attention heads + attention fusion
# (MultiHeadCrossAttention) → DANHead (linear + BatchNorm1d on the logits), trained with
# CE + affinity + partition losses, each weight 1. K = 8 affinity centers, the official
# AffinityLoss default (rafdb.py keeps it for 7 classes); K = number of classes, the paper's form
# (and what the official affectnet.py passes), is `model.head.losses.1.num_centers=<C>`.
# The backbone starts from the MS-Celeb-1M ResNet-18 (the official init), loaded strictly:
#   python tools/model_converters/resnet18_msceleb_to_mmfer.py resnet18_msceleb.pth \
#       checkpoints/resnet18_msceleb_mmfer.pth
# Without the file, set model.pretrained=None (random init).
# --cfg-options model.neck.num_heads=H (1..8) is all it takes to change the head count.
num_classes = 7
model = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
    neck=dict(type='MultiHeadCrossAttention', in_channels=512, num_heads=4,
              reduction_channels=256, ca_hidden=32),
    head=dict(
        type='DANHead', num_classes=num_classes, in_channels=512, bn_on_logits=True,
        losses=[
            dict(type='FERCrossEntropyLoss', loss_weight=1.0),
            dict(type='AffinityLoss', num_centers=8, feat_dim=512, loss_weight=1.0),
            dict(type='PartitionLoss', mode='official', loss_weight=1.0),
        ]),
    pretrained=dict(checkpoint='checkpoints/resnet18_msceleb_mmfer.pth', prefix='backbone.'),
)
