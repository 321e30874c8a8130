# DacFER ablation (dacfer.md §2, Table 3)
# + LAC + GAC = DacFER: SE-ResNet-50 + CE on view 0 + CAM flip consistency (λ 1) on the (image,
# flip) pair.
# SynthFER (`make demo` data, 64 px), width-reduced for CPU (stem/base 16 channels: 512-channel 2×2
# map), random init; Adam 1e-3, ExponentialLR 0.9, 5 epochs.
# Reference: results: docs/model_zoo.md.
_base_ = [
    './_base_/dacfer_se50.py',
    './_base_/synthfer_crop64.py',
    './_base_/schedule_synthfer.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(dataset=dict(pipeline={{_base_.pair_train_pipeline}}))
model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(in_channels=512),
    pretrained=None)
randomness = dict(seed=0)
