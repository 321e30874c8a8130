# Hand-computable model for get_flops: Conv2d(3→4, k3, pad 1) + global average pool + Linear(4→5).
# At H×W input: MACs = H·W·4·3·9 + 4·5; params = (4·3·9 + 4) + (4·5 + 5) = 137.
# Needs tests/data on PYTHONPATH (custom_imports).
custom_imports = dict(imports=['mmfer_tiny_models'], allow_failed_imports=False)
default_scope = 'mmfer'
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(num_classes=5),
    backbone=dict(type='TinyConvBackbone', out_channels=4),
    neck=None,
    head=dict(type='FERClsHead', num_classes=5, in_channels=4),
)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
