# AffectNet official CSV release (datasets.md §3.1), 8 classes, AffectNet order.
dataset_type = 'AffectNet'
data_root = 'data/affectnet'
img_size = 224
data_preprocessor = dict(num_classes=8, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True,
    # every FER method trains AffectNet class-balanced, with replacement (datasets.md §3)
    sampler=dict(type='ClassBalancedSampler', num_samples=1.0),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', num_classes=8,
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', num_classes=8,
                 pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
