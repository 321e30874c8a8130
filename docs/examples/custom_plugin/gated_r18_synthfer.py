# Uses the plugins of my_plugins.py without touching mmfer: custom_imports imports the file,
# whose decorators register the neck and the loss.
_base_ = ['../../../configs/baseline/r18_synthfer_otf.py']
custom_imports = dict(imports=['my_plugins'], allow_failed_imports=False)
model = dict(
    neck=dict(type='GatedPoolNeck', in_channels=256),
    head=dict(losses=[dict(type='FERCrossEntropyLoss'),
                      dict(type='GateSparsityLoss', loss_weight=0.1)]))
