# A real landmark network without downloads (issue 11): MobileFaceNet-136 (half width, CPU
# variant) trained to regress SynthFER's 68 rendered landmarks at 112×112. Its checkpoint is the
# frozen landmark network of configs/pcda/pcda_ir50_synthfer.py (aux_nets.landmark.pretrained,
# prefix 'backbone.'). Metric: NME (% of the inter-ocular distance, iBUG outer eye corners).
#   python tools/train.py configs/landmarks/mobilefacenet_synthfer.py
#   python tools/analysis/vis_landmarks.py configs/landmarks/mobilefacenet_synthfer.py \
#       work_dirs/mobilefacenet_synthfer/epoch_5.pth --out docs/images/landmarks_synthfer.png
_base_ = [
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
img_size = 112
width_mult = 0.5
model = dict(
    type='FERClassifier',
    # the GDC head ends in BatchNorm1d(136): start its outputs near the image centre (bias 0.5)
    # with a small spread (weight 0.1) instead of N(0, 1), so the first epochs learn the shape,
    # not the offset
    backbone=dict(type='MobileFaceNet', out_names=('landmarks', ), width_mult=width_mult,
                  init_cfg=dict(type='Constant', layer='BatchNorm1d', val=0.1, bias=0.5)),
    head=dict(type='LandmarkHead', num_landmarks=68, in_channels=136, input_size=img_size,
              losses=[dict(type='LandmarkLoss', mode='l1')]),
)
data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         to_rgb=True)
# no flip: a horizontal flip would have to permute the left/right landmark indices too
pipeline = [dict(type='PackInputs', algorithm_keys=['landmarks'])]
train_dataloader = dict(
    batch_size=64, num_workers='auto', persistent_workers='auto',
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='SynthFER', split='train', num_samples=4000, img_size=img_size,
                 pipeline=pipeline))
val_dataloader = dict(
    batch_size=128, num_workers='auto', persistent_workers='auto',
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SynthFER', split='test', num_samples=1000, img_size=img_size,
                 pipeline=pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='LandmarkNME')
test_evaluator = val_evaluator
max_epochs = 5
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = dict(T_max=max_epochs)
default_hooks = dict(checkpoint=dict(save_best='landmark/nme', rule='less'))
