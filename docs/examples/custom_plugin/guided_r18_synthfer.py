# Example 3 of docs/add_plugin.md: a frozen ResNet-18 guide network next to the backbone; the
# GuidedPoolNeck pools the backbone map where the guide responds. With a trained guide, give
#   aux_nets=dict(guide=dict(..., pretrained=dict(checkpoint='guide.pth', prefix='backbone.')))
_base_ = ['../../../configs/baseline/r18_synthfer_otf.py']
custom_imports = dict(imports=['my_plugins'], allow_failed_imports=False)
model = dict(
    aux_nets=dict(guide=dict(type='ResNet', depth=18, out_indices=(3, ), stem_channels=16,
                             base_channels=16, frozen=True)),
    neck=dict(type='GuidedPoolNeck', guide='guide'))
