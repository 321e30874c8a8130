# SynthFER ablation: pcda_ir50_synthfer.py with neither the landmark product (heatmap_mode='none')
# nor NeAA (cross-entropy only); the landmark network still gives the cross-attention queries.
# Same parameters and budget (the fourth row of tools/analysis/run_table.py pcda_synthfer).
_base_ = ['./pcda_ir50_synthfer_no-product.py']
model = dict(head=dict(losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0)]))
