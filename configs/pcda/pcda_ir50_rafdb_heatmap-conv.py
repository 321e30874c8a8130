# Table 4 of the PCDA paper: the 'conv' heatmap generator instead of Max+Repeat (pcda.md §3)
# (a learnable 1×1 conv 128 → 256 channels with bias, no activation: +33,024 parameters; RAF-DB
# 91.46 % in the paper)
_base_ = ['./pcda_ir50_rafdb.py']
model = dict(neck=dict(heatmap_mode='conv'))
