# The QCS / DCS / POSTER++ schedule of the official scripts (specs/qcs.md §10.1): SAM over Adam
# (ρ 0.05, non-adaptive; two forward/backward passes per iteration), betas (0.9, 0.999), weight
# decay 0 (the official scripts parse --wd 1e-4 but never use it), ExponentialLR(0.98) stepped
# once per epoch. lr and max_epochs are per recipe: leaf configs state them (qcs.md §10.1 table).
optim_wrapper = dict(
    type='SAMOptimWrapper', rho=0.05, adaptive=False,
    optimizer=dict(type='Adam', lr=4e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.))
param_scheduler = dict(type='ExponentialLR', gamma=0.98, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr is for the batch size of the recipe; scale with --auto-scale-lr
auto_scale_lr = dict(base_batch_size=24, enable=False)
# multi-GPU: mmengine's DDP train_step bypasses the model's; this wrapper runs SAM's two passes
model_wrapper_cfg = dict(type='SAMDistributedDataParallel')
