# LAN on FERPlus, 8 classes, majority-vote labels, reported on PrivateTest (paper 88.45 %,
# baseline 83.52 %). Guidance features 25,060 × 49 × 512 × 4 = 2.51 GB (exact, within 4 GiB).
_base_ = [
    './_base_/lan_r18.py',
    '../_base_/datasets/ferplus.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [{{_base_.guidance_hook}}]
num_classes = 8
model = dict(head=dict(num_classes=num_classes))
train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader
