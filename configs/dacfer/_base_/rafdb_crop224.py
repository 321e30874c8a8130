# RAF-DB with the DacFER recipe's input (dacfer.md §2): train Resize 256 → RandomCrop 224 (choice:
# random crop at train) → RandomErasing(p 0.5, scale (0.02, 0.25), ratio (0.3, 3.3), value 0 after
# ImageNet normalisation: NormalizedRandomErasing, as EAC's torchvision transform); no random
# horizontal flip (the flip exists only through the DacFER view pair); test Resize 256 →
# CenterCrop 224. `pair_train_pipeline` adds the (image, flip) pair for DacFER ('erase_then_flip':
# the second view is the flip of the augmented first view, EAC's clean-label path).
_base_ = ['../../_base_/datasets/rafdb.py']
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
# the noisy-label configs test on the noisy training split with the clean label packed
memo_pipeline = test_pipeline[:-1] + [dict(type='PackInputs', algorithm_keys=['gt_label_clean'])]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
