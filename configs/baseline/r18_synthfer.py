# The quick-start job (`make demo`): a width-reduced ResNet-18 on SynthFER written in the RAF-DB
# layout, 64 px, Adam + cosine, a few CPU minutes.
_base_ = [
    '../_base_/models/r18_baseline.py',
    '../_base_/datasets/synthfer_rafdb.py',
    '../_base_/schedules/adam_cosine.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    head=dict(in_channels=256),
)
