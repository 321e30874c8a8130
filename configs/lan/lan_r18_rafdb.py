# LAN on RAF-DB basic (12,271 train / 3,068 test; paper 87.09 %, baseline ResNet-18 74.87 %):
# the recipe of specs/lan.md §2 — 224×224, Resize → RandomHorizontalFlip(0.5) → Normalize,
# SGD lr 0.1, batch 64, 40 epochs. Guidance features: 12,271 × 49 × 512 × 4 = 1,231,419,392 bytes
# (exact backend).
_base_ = [
    './_base_/lan_r18.py',
    '../_base_/datasets/rafdb.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [{{_base_.guidance_hook}}]
train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader
