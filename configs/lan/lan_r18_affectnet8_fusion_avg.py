# Fusion ablation of the paper's Table 6 on AffectNet-8: f = (f_o + f_a) / 2 (paper 59.40 %)
# instead of the addition (60.88 %).
_base_ = ['./lan_r18_affectnet8.py']
model = dict(neck=dict(fusion='avg'))
