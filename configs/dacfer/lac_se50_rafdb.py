# DacFER ablation (dacfer.md §2, Table 3)
# + LAC: VGGFace2 SE-ResNet-50 (senet50_ft; the SE gates are the local attention correction) + CE.
# RAF-DB basic (7 classes, test split); Adam 1e-3, ExponentialLR 0.9, 60 epochs, batch 64.
# Reference: paper Table 3: baseline 88.66, LAC 88.98, DacFER 90.61.
_base_ = [
    './_base_/lac_se50.py',
    './_base_/rafdb_crop224.py',
    './_base_/schedule_rafdb.py',
    '../_base_/default_runtime.py',
]
randomness = dict(seed=0)
