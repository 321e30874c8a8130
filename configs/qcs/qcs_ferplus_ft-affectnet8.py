# QCS on FERPlus, ‡ setting (qcs.md §10.1; paper FERPlus 91.85): as qcs_ferplus.py, but the IR-50
# is initialised from a trained QCS AffectNet-8 model (its IR-50 weights only) and lr 2.5e-6.
_base_ = ['./qcs_ferplus.py']
model = dict(backbone=dict(pretrained='checkpoints/QCS_affect-8.pth'))
optim_wrapper = dict(optimizer=dict(lr=2.5e-6))
