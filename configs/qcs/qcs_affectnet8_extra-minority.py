# QCS on AffectNet-8 with the paper's extra minority samples (qcs.md §10, option
# `extra_minority_sources`; paper only, not in the official code, hence off in qcs_affectnet8.py):
# the Fear, Disgust and Contempt training images of RAF-DB and FERPlus are added to AffectNet's
# training set, their labels remapped by class name into AffectNet's order (ExtraClassSamples;
# RAF-DB has no Contempt). Everything else is qcs_affectnet8.py; the class-balanced sampler and
# the quadruplet draws see the enlarged set. Data roots: data/affectnet, data/rafdb/basic,
# data/ferplus (docs/dataset_prepare.md).
_base_ = ['./qcs_affectnet8.py']
train_dataloader = dict(dataset=dict(dataset=dict(
    _delete_=True,
    type='ExtraClassSamples',
    dataset=dict(type='AffectNet', data_root='data/affectnet', split='train', num_classes=8,
                 pipeline={{_base_.train_pipeline}}),
    extra_sources=[
        dict(type='RAFDB', data_root='data/rafdb/basic', split='train',
             pipeline={{_base_.train_pipeline}}),
        dict(type='FERPlus', data_root='data/ferplus', split='Training', num_classes=8,
             pipeline={{_base_.train_pipeline}}),
    ],
    classes_to_add=('Fear', 'Disgust', 'Contempt'))))
