# Short CPU schedule for SynthFER: the RAF-DB recipe (Adam 1e-3, weight decay 1e-4,
# ExponentialLR 0.9 per epoch) over 5 epochs, so that the six-row table of
# tools/analysis/run_table.py dacfer_synthfer fits a 2-core CPU session (a 10-epoch
# baseline: docs/model_zoo.md). ExponentialLR does not depend on max_epochs: epoch e has
# the same lr in a longer run.
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = dict(type='ExponentialLR', gamma=0.9, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=False)
