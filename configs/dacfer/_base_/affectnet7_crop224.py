# AffectNet-7 (validation set as test) with the DacFER input of rafdb_crop224.py; class-balanced
# sampling with replacement (choice; the _base_ AffectNet default). Batch 64.
_base_ = ['../../_base_/datasets/affectnet7.py']
resize, crop = 256, 224
view_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(resize, resize)),
    dict(type='RandomCrop', crop_size=crop),
    dict(type='NormalizedRandomErasing', prob=0.5, scale=(0.02, 0.25), ratio=(0.3, 3.3),
         value=0.0, mean={{_base_.data_preprocessor.mean}},
         std={{_base_.data_preprocessor.std}}),
]
train_pipeline = view_pipeline + [dict(type='PackInputs')]
pair_train_pipeline = view_pipeline + [dict(type='PairedFlipView', pair_mode='erase_then_flip'),
                                       dict(type='PackInputs')]
# pair_mode='independent' (EAC's noisy-label script): the flipped raw image gets its own crop and
# erasing, so the pair transform wraps them: train_dataloader.dataset.pipeline=<this list>
independent_pair_train_pipeline = view_pipeline[:2] + [
    dict(type='PairedFlipView', pair_mode='independent', transforms=view_pipeline[2:]),
    dict(type='PackInputs')]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(resize, resize)),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
