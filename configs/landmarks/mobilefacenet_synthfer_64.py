# The landmark network of configs/landmarks/mobilefacenet_synthfer.py at 64×64, the input size
# of the SynthFER classification configs (_base_/datasets/synthfer_rafdb.py) and of the CPU
# PCDA config that freezes it (configs/pcda/pcda_ir50_synthfer.py). At 64 px the conv_6_sep map
# is 4×4, so the GDC head's depthwise kernel is 4×4 (gdc_kernel=4; 7×7 in the published
# network, whose weights need 112 px). SynthFER renders the faces at 64 px directly.
#   python tools/train.py configs/landmarks/mobilefacenet_synthfer_64.py
_base_ = ['./mobilefacenet_synthfer.py']
img_size = 64
model = dict(backbone=dict(gdc_kernel=4), head=dict(input_size=img_size))
train_dataloader = dict(dataset=dict(img_size=img_size))
val_dataloader = dict(dataset=dict(img_size=img_size))
test_dataloader = val_dataloader
