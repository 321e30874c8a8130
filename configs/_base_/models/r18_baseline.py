# ResNet-18 + global average pooling + linear classifier, cross-entropy.
model = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
    head=dict(type='FERClsHead', num_classes=7, in_channels=512,
              losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0)]),
)
