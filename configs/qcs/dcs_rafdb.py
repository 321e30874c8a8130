# DCS on RAF-DB (qcs.md §10): 2 branches (anchor a, positive p of the same class), otherwise the
# QCS RAF-DB setting: SAM(Adam) ρ 0.05, lr 9e-6, batch 48 pairs, 200 epochs, ExponentialLR(0.98)
# per epoch, weight decay 0, VIT_cross dropout 0.2, CSA post-norm-like, same augmentation.
_base_ = ['./qcs_rafdb.py']
model = dict(
    type='DCSClassifier',
    num_branches=2,
    cross_neck=dict(mode='dcs_s', residual_style='post'),
    cross_vit=dict(drop_ratio=0.2, proj_drop_ratio=0.),  # 7-class ViT file: no proj dropout
)
train_dataloader = dict(batch_size=48, dataset=dict(num_branches=2))
val_dataloader = dict(batch_size=48)
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=9e-6))
auto_scale_lr = dict(base_batch_size=48)
