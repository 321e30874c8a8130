# Tiny CPU variant of the POSTER++-w/o-landmarks base network on SynthFER rendered on the fly:
# IR-50 unit counts at 1/4 width (base_channels=16: 16/32/64 channels), 64 px input without
# resize (stage maps 32², 16², 8² → 4×4 tokens per level, 48 tokens), ViT width 128, depth 1,
# 4 heads; trained from scratch with Adam. ≈ 1.6 M parameters; a few CPU minutes per run.
# Same modules as the full model — only sizes differ — so it exercises the whole code path.
_base_ = [
    '../_base_/models/poster_base_ir50.py',
    '../_base_/datasets/synthfer.py',
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(base_channels=16, input_resize=None),
    neck=dict(in_channels=(16, 32, 64), embed_dim=128, num_tokens=48,
              vit=dict(depth=1, num_heads=4, mlp_ratio=4., drop_ratio=0.)),
    head=dict(in_channels=128),
)
train_dataloader = dict(batch_size=64, dataset=dict(num_samples=1600))
val_dataloader = dict(batch_size=128, dataset=dict(num_samples=400))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=5, eta_min=1e-5,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
