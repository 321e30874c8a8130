# DacFER ablation "CNN baseline" (dacfer.md §2, Table 3): VGGFace2 Caffe ResNet-50 (resnet50_ft,
# EAC's backbone) → GAP → FC 2048→7 → CE. 23,522,375 parameters. Pretrained file:
#   python tools/model_converters/vggface2_to_mmfer.py resnet50_ft_weight.pkl \
#       checkpoints/resnet50_ft_mmfer.pth
# (without it: --cfg-options model.pretrained=None, random init).
num_classes = 7
model = dict(
    type='FERClassifier',
    backbone=dict(type='VGGFace2ResNet', depth=50, out_indices=(3, )),
    head=dict(type='FERClsHead', num_classes=num_classes, in_channels=2048,
              losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0)]),
    pretrained=dict(checkpoint='checkpoints/resnet50_ft_mmfer.pth', prefix='backbone.'),
)
