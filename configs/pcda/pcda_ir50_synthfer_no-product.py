# SynthFER ablation: pcda_ir50_synthfer.py without the landmark product (f_fusion = f_img,
# heatmap_mode='none'); the landmark network still gives the cross-attention queries. Same
# parameters and budget.
_base_ = ['./pcda_ir50_synthfer.py']
model = dict(neck=dict(heatmap_mode='none'))
