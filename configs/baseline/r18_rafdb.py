# ResNet-18 baseline on RAF-DB (GAP + linear, cross-entropy), 224 px, SGD 40 epochs.
_base_ = [
    '../_base_/models/r18_baseline.py',
    '../_base_/datasets/rafdb.py',
    '../_base_/schedules/sgd_40e.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=256)
