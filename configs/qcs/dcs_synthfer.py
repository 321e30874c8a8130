# Tiny CPU DCS on SynthFER: as qcs_synthfer.py with 2 branches (anchor, positive), 32 pairs per
# batch (64 images per pass).
_base_ = ['./qcs_synthfer.py']
model = dict(type='DCSClassifier', num_branches=2, cross_neck=dict(mode='dcs_s'))
train_dataloader = dict(batch_size=32, dataset=dict(num_branches=2))
