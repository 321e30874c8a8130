# SynthFER (`make demo` data, RAF-DB layout, 64 px) with the DacFER augmentation scaled to 64 px:
# Resize 72 → RandomCrop 64 → NormalizedRandomErasing(p 0.5, scale (0.02, 0.25)); test Resize 72
# → CenterCrop 64; no random flip outside the DacFER pair.
_base_ = ['../../_base_/datasets/synthfer_rafdb.py']
resize, crop = 72, 64
view_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(resize, resize), backend={{_base_.resize_backend}}),
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
    dict(type='Resize', scale=(resize, resize), backend={{_base_.resize_backend}}),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]
memo_pipeline = test_pipeline[:-1] + [dict(type='PackInputs', algorithm_keys=['gt_label_clean'])]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
