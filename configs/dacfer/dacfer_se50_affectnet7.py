# DacFER ablation (dacfer.md §2, Table 3)
# + LAC + GAC = DacFER: SE-ResNet-50 + CE on view 0 + CAM flip consistency (λ 1) on the (image,
# flip) pair.
# AffectNet-7 (validation set as test, class-balanced sampling); Adam 1e-4, StepLR(5, 0.2), 20
# epochs, batch 64.
# Reference: paper Table 3: baseline 62.09, LAC 63.32, DacFER 65.46.
_base_ = [
    './_base_/dacfer_se50.py',
    './_base_/affectnet7_crop224.py',
    './_base_/schedule_affectnet.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(dataset=dict(pipeline={{_base_.pair_train_pipeline}}))
randomness = dict(seed=0)
