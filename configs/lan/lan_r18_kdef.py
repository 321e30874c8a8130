# LAN on KDEF, 10-fold cross-validation (paper 95.39 %, protocol not detailed; specs/datasets.md
# §5): subject-disjoint folds by default (70 identities shuffled with fold_seed 0, 7 per fold,
# all 70 images of an identity in one fold), all five angles. This config is fold 0; every fold
# with mean ± std and a pooled confusion matrix is one command:
#   python tools/analysis/kdef_folds.py configs/lan/lan_r18_kdef.py --work-dir work_dirs/lan_kdef
# (one fold by hand: --cfg-options train_dataloader.dataset.fold=K val_dataloader.dataset.fold=K
#  test_dataloader.dataset.fold=K). Faces should be aligned first (LAN: RetinaFace, 224×224);
# the reader takes an aligned copy with the release's file names.
# Guidance features per fold: 4,410 × 49 × 512 × 4 = 0.44 GB (exact).
_base_ = [
    './_base_/lan_r18.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [{{_base_.guidance_hook}}]
dataset_type = 'KDEF'
data_root = 'data/kdef'
img_size = 224
fold = 0
num_folds = 10
data_preprocessor = dict(num_classes=7, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
model = dict(data_preprocessor=data_preprocessor)
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
kdef = dict(type=dataset_type, data_root=data_root, fold_mode='subject', num_folds=num_folds,
            fold_seed=0)
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # seed=None: KDEF orders its samples by fold, KFoldDataset must not reshuffle them
    dataset=dict(type='KFoldDataset', num_splits=num_folds, fold=fold, test_mode=False,
                 seed=None, dataset=dict(kdef, pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='KFoldDataset', num_splits=num_folds, fold=fold, test_mode=True,
                 seed=None, dataset=dict(kdef, pipeline=test_pipeline)))
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
# the validation set is the held-out fold: no "best" checkpoint is selected on it (kdef_folds.py
# scores the last epoch's weights)
default_hooks = dict(checkpoint=dict(save_best=None))
