# Same baseline on SynthFER rendered on the fly (nothing written to disk).
_base_ = [
    '../_base_/models/r18_baseline.py',
    '../_base_/datasets/synthfer.py',
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    head=dict(in_channels=256),
)
