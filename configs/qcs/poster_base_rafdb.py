# "POSTER++ w/o landmarks" baseline (qcs.md §1, paper Table 1 row 1: RAF-DB 92.05): the QCS base
# network trained alone with cross-entropy on RAF-DB, with the QCS RAF-DB recipe (qcs.md §10, non-‡
# setting) minus the cross branches: one view per image, batch 24, SAM(Adam) ρ 0.05, lr 4e-6,
# betas (0.9, 0.999), weight decay 0, ExponentialLR(0.98) per epoch, 200 epochs, IR-50 from
# ir50.pth. The augmentation is configs/qcs/qcs_rafdb.py's (_base_/datasets/qcs_rafdb.py), so
# that the baseline differs from QCS only by the cross branches. For plain Adam (one pass per
# iteration, half the cost) use optim_wrapper=dict(_delete_=True, type='OptimWrapper',
# optimizer=...).
_base_ = [
    '../_base_/models/poster_base_ir50.py',
    '../_base_/datasets/qcs_rafdb.py',
    '../_base_/schedules/sam_adam_exp.py',
    '../_base_/default_runtime.py',
]
# MS-Celeb-1M IR-50 of POSTER_V2 / QCS (layout A, 304 entries), loaded strictly at init_weights;
# the layout-B face.evoLVe file is accepted too (docs/backbones.md).
model = dict(backbone=dict(pretrained='checkpoints/ir50.pth'))
optim_wrapper = dict(optimizer=dict(lr=4e-6))
train_cfg = dict(max_epochs=200)
