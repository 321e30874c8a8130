# SGD, step decay every 10 epochs, 40 epochs (the DAN RAF-DB recipe's shape).
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr is for the batch size of the config; scale with --auto-scale-lr
auto_scale_lr = dict(base_batch_size=256, enable=False)
