# SynthFER rendered on the fly (no files); deterministic per (seed, index, options).
dataset_type = 'SynthFER'
img_size = 64
data_preprocessor = dict(
    num_classes=7,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
train_pipeline = [
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64,
    # loaders sized to the machine (mmfer/datasets/loader_auto.py): 0 workers on <= 2 cores
    num_workers='auto',
    persistent_workers='auto',
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, split='train', num_samples=8000, img_size=img_size,
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=128,
    num_workers='auto',
    persistent_workers='auto',
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, split='test', num_samples=2000, img_size=img_size,
                 pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
