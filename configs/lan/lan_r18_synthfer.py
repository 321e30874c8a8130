# LAN on SynthFER (`make demo` data: SynthFER written in the RAF-DB layout, 64 px), comparable
# with configs/baseline/r18_synthfer.py: the same width-reduced ResNet-18 (stem/base 32 channels
# → a 256-channel layer4 map, 2×2 at 64 px), Adam 1e-3 + cosine, 10 epochs, batch 64. The LAN
# widths are reduced in proportion (256 → 128 → 64 → 32 → 1); random init (no MS-Celeb
# stand-in), so the reference of the guidance is the initialised backbone (kept in the
# checkpoint's meta). The map is only 2×2 here: 4 positions to cluster.
# Pose subsets: lan_r18_synthfer_pose{30,45}.py (test only), the baseline on the same subsets:
# baseline_r18_synthfer_pose{30,45}.py.
# Data: python tools/dataset_converters/synthfer_writer.py --format rafdb --out data/synthfer_rafdb
_base_ = [
    './_base_/lan_r18.py',
    '../_base_/datasets/synthfer_rafdb.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [{{_base_.guidance_hook}}]
feat_channels = 256
model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    neck=dict(in_channels=feat_channels, widths=(128, 64, 32)),
    head=dict(in_channels=feat_channels),
    pretrained=None,
)
optim_wrapper = dict(_delete_=True, optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0))
param_scheduler = dict(_delete_=True, type='CosineAnnealingLR', by_epoch=True, T_max=10,
                       eta_min=1e-5, convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
