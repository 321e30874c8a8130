# LAN on AffectNet-8, reported on the validation set (paper 60.88 %, baseline 54.37 %); the
# imbalanced training set is drawn class-balanced with replacement, N_train per epoch (choice,
# specs/lan.md §2; the sampler of _base_/datasets/affectnet7.py).
# Guidance features 287,651 × 49 × 512 × 4 = 28.9 GB > 4 GiB: the 'auto' backend picks memmap
# (a 14.4 GB float16 file in the work dir, 0.59 GB in memory at a time); kmeans_backend=
# 'minibatch' streams instead (approximate, memory independent of the dataset size).
_base_ = [
    './_base_/lan_r18.py',
    '../_base_/datasets/affectnet8.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [{{_base_.guidance_hook}}]
num_classes = 8
model = dict(head=dict(num_classes=num_classes))
train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader
