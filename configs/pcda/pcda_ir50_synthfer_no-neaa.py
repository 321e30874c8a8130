# SynthFER ablation: pcda_ir50_synthfer.py trained with cross-entropy only (no NeAA); same
# modules, parameters and budget.
_base_ = ['./pcda_ir50_synthfer.py']
model = dict(head=dict(losses=[dict(type='FERCrossEntropyLoss', loss_weight=1.0)]))
