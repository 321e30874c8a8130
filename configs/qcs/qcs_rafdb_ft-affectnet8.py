# QCS on RAF-DB, ‡ setting (qcs.md §10.1; paper RAF-DB 93.02): as qcs_rafdb.py, but the IR-50 is
# initialised from a trained QCS AffectNet-8 model (only its IR-50 weights — `ir_back.*` of an
# official checkpoint such as the released QCS_affect-8.pth; everything else fresh) and lr 3e-6
# (the official main_QCS_raf_db.py values).
_base_ = ['./qcs_rafdb.py']
model = dict(backbone=dict(pretrained='checkpoints/QCS_affect-8.pth'))
optim_wrapper = dict(optimizer=dict(lr=3e-6))
