# DacFER AffectNet schedule (dacfer.md §2, paper): Adam lr 1e-4, weight decay 1e-4, lr decayed
# 5-fold every 5 epochs (StepLR step 5, γ 0.2), 20 epochs, batch 64.
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = dict(type='StepLR', step_size=5, gamma=0.2, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=False)
