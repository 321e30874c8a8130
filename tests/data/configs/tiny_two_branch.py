# Tiny QCS-like two-branch model: training inputs N×2×3×H×W and a training-only `cross`
# Linear(64→64) (4,160 params) that the inference forward never runs.
# Needs tests/data on PYTHONPATH (custom_imports).
_base_ = ['./tiny_r18.py']
custom_imports = dict(imports=['mmfer_tiny_models'], allow_failed_imports=False)
model = dict(type='TinyTwoBranchClassifier', num_branches=2, feat_dim=64,
             data_preprocessor=dict(to_rgb=False))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, _delete_=True), clip_grad=dict(max_norm=1.0))
