# DacFER ablation (dacfer.md §2, Table 3)
# CNN baseline: VGGFace2 Caffe ResNet-50 (resnet50_ft) + CE.
# SynthFER (`make demo` data, 64 px), width-reduced for CPU (stem/base 16 channels: 512-channel 2×2
# map), random init; Adam 1e-3, ExponentialLR 0.9, 5 epochs.
# Reference: results: docs/model_zoo.md.
_base_ = [
    './_base_/baseline_r50.py',
    './_base_/synthfer_crop64.py',
    './_base_/schedule_synthfer.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(in_channels=512),
    pretrained=None)
randomness = dict(seed=0)
