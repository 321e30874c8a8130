# DacFER RAF-DB schedule (dacfer.md §2, paper): Adam lr 1e-3, weight decay 1e-4 (L2, as torch
# Adam), lr × 0.9 per epoch (ExponentialLR), 60 epochs, batch 64. (EAC's code: lr 1e-4.)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = dict(type='ExponentialLR', gamma=0.9, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=False)
