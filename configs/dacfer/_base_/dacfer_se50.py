# DacFER (dacfer.md §1): SE-ResNet-50 (LAC) + CAM flip consistency (GAC). Training batches carry
# 2 views (image, horizontal flip: PairedFlipView) run as two separate forward passes
# (branch_bn='separate': BatchNorm statistics per view, EAC); CE on view 0 only; the CAMs of all
# classes from the detached FC weight (detach_cam_weight=True, EAC) feed
# L_c = mean (M − Flip(M′))² (mode='mse', EAC's code; 'l2_norm' = literal Eq. 4), λ = 1 (paper;
# EAC: 5). Inference = backbone → GAP → FC (26,053,367 parameters, no CAM, one view).
num_classes = 7
model = dict(
    type='MultiViewClassifier',
    num_views=2,
    branch_bn='separate',
    backbone=dict(type='VGGFace2SEResNet', depth=50, se_ratio=16, out_indices=(3, )),
    head=dict(
        type='CAMClsHead', num_classes=num_classes, in_channels=2048, detach_cam_weight=True,
        losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0, views=(0, )),
                dict(type='FlipConsistencyLoss', mode='mse', loss_weight=1.0, views=(0, 1))]),
    pretrained=dict(checkpoint='checkpoints/senet50_ft_mmfer.pth', prefix='backbone.'),
)
