# DacFER ablation "+ LAC" (dacfer.md §1.1): the local attention correction *is* the SE channel
# attention, so this is the VGGFace2 SE-ResNet-50 (senet50_ft) → GAP → FC 2048→7 → CE.
# 26,053,367 parameters. Pretrained file:
#   python tools/model_converters/vggface2_to_mmfer.py senet50_ft_weight.pkl \
#       checkpoints/senet50_ft_mmfer.pth
num_classes = 7
model = dict(
    type='FERClassifier',
    backbone=dict(type='VGGFace2SEResNet', depth=50, se_ratio=16, out_indices=(3, )),
    head=dict(type='FERClsHead', num_classes=num_classes, in_channels=2048,
              losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0)]),
    pretrained=dict(checkpoint='checkpoints/senet50_ft_mmfer.pth', prefix='backbone.'),
)
