# Table 4 of the PCDA paper: the 'abs_sum' heatmap generator instead of Max+Repeat (pcda.md §3)
# (Σ_c |f_lm|, repeated over the 256 channels; RAF-DB 91.59 % in the paper)
_base_ = ['./pcda_ir50_rafdb.py']
model = dict(neck=dict(heatmap_mode='abs_sum'))
