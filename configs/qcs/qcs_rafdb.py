# QCS on RAF-DB (qcs.md §10, mmfer default = the non-‡ setting): 4 branches (a, p, n, n2), the
# base network POSTER++ w/o landmarks (IR-50 from ir50.pth) + training-only cross stage
# (3 CSA + VIT_cross), SAM(Adam) ρ 0.05, lr 4e-6, batch 24 quadruplets, 200 epochs,
# ExponentialLR(0.98) per epoch, weight decay 0. Negatives: n from all images of the other
# classes (y′ frequency-weighted), n2 from y′. Inference runs the base network only
# (40,700,039 params, 8.12 GMACs); the training model has 66,810,513 params.
# The ‡ setting (IR-50 from a trained QCS AffectNet-8 model, lr 3e-6) is qcs_rafdb_ft-affectnet8.py.
# Model: _base_/models/qcs_poster_ir50.py; augmentation: _base_/datasets/qcs_rafdb.py; schedule:
# _base_/schedules/sam_adam_exp.py. The model's data preprocessor is the top-level
# `data_preprocessor` (merged as mmengine's Runner does; QCSClassifier makes it a
# MultiViewDataPreprocessor for N×V×3×H×W batches).
_base_ = [
    '../_base_/models/qcs_poster_ir50.py',
    '../_base_/datasets/qcs_rafdb.py',
    '../_base_/schedules/sam_adam_exp.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
model = dict(head=dict(num_classes=num_classes))

train_dataloader = dict(
    # anchors: a shuffled pass (the base's DefaultSampler); partners drawn by QuadrupletDataset
    dataset=dict(
        _delete_=True,
        type='QuadrupletDataset', num_branches=4, negative_mode='frequency', seed=0,
        dataset={{_base_.train_dataloader.dataset}}))
optim_wrapper = dict(optimizer=dict(lr=4e-6))
train_cfg = dict(max_epochs=200)
# partner draws are seeded by (seed, epoch, index): tell the dataset the epoch
custom_hooks = [dict(type='DatasetEpochHook')]  # RunInfoHook is a default hook
