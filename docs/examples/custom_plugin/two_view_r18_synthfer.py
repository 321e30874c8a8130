# Example 2 of docs/add_plugin.md: the baseline trained on (image, flipped image) pairs with CE on
# the original view only and ViewAgreementLoss between the two views' predictions.
_base_ = ['../../../configs/baseline/r18_synthfer_otf.py']
custom_imports = dict(imports=['my_plugins'], allow_failed_imports=False)
model = dict(
    type='MultiViewClassifier',
    num_views=2,
    head=dict(losses=[dict(type='FERCrossEntropyLoss', views=(0, )),
                      dict(type='ViewAgreementLoss', views=(0, 1), loss_weight=1.0)]))
train_dataloader = dict(dataset=dict(pipeline=[dict(type='PackInputs'),
                                               dict(type='StackFlippedView')]))
