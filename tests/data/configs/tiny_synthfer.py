# A tiny SynthFER job for the tool tests: 32 px faces rendered on the fly, a ResNet-18 with
# 8 base channels, 2 epochs of 4 iterations, no worker processes (deterministic RNG).
_base_ = ['../../../configs/_base_/default_runtime.py']
model = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
    head=dict(type='FERClsHead', num_classes=7, in_channels=64),
    data_preprocessor=dict(num_classes=7, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True))
train_pipeline = [dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                  dict(type='PackInputs')]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='SynthFER', split='train', num_samples=32, img_size=32,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SynthFER', split='test', num_samples=16, img_size=32,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[2], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=1))
