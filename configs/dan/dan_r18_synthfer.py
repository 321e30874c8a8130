# DAN on SynthFER (written in the RAF-DB layout, read by the RAF-DB reader) — a few CPU minutes,
# comparable with configs/baseline/r18_synthfer.py: the same width-reduced ResNet-18
# (stem/base 32 channels → a 256-channel map), 64 px, Adam + cosine, 10 epochs. The neck is
# reduced in proportion (512/256/32 → 256/128/16); everything else is the official DAN.
# One difference from the baseline: Adam lr 1e-4 (the official AffectNet lr) instead of 1e-3.
# DAN's attention is unnormalised (s = a 256-channel sum, head outputs in the tens to hundreds),
# and from random weights Adam at 1e-3 stalls it: CE stays at ln 7 and the test accuracy at
# chance (14.4 % after 2 epochs); with 1e-4 (or 3e-4) it trains normally.
# Data: python tools/dataset_converters/synthfer_writer.py --format rafdb --out data/synthfer_rafdb
_base_ = [
    '../_base_/datasets/synthfer_rafdb.py',
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
feat_channels = 256
model = dict(
    type='FERClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet', depth=18, out_indices=(3, ), stem_channels=32, base_channels=32),
    neck=dict(type='MultiHeadCrossAttention', in_channels=feat_channels, num_heads=4,
              reduction_channels=128, ca_hidden=16),
    head=dict(
        type='DANHead', num_classes=num_classes, in_channels=feat_channels, bn_on_logits=True,
        losses=[
            dict(type='FERCrossEntropyLoss', loss_weight=1.0),
            dict(type='AffinityLoss', num_centers=num_classes, feat_dim=feat_channels,
                 loss_weight=1.0),
            dict(type='PartitionLoss', mode='official', loss_weight=1.0),
        ]),
)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4, weight_decay=0.0))
# drop_last: DAN's BatchNorm1d on the logits cannot train on a last batch of one sample
train_dataloader = dict(drop_last=True)
