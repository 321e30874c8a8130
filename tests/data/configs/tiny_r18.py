# Tiny ResNet-18 FER classifier for tool tests: 8 base channels, 32 px inputs, 7 classes.
default_scope = 'mmfer'
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(num_classes=7, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, out_indices=(3, )),
    neck=None,
    head=dict(type='FERClsHead', num_classes=7, in_channels=64),
)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
