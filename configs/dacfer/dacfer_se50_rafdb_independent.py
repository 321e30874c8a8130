# DacFER on RAF-DB with pair_mode='independent' (EAC's noisy-label script path): view 1 is the
# horizontally flipped raw image with its own RandomCrop and erasing draw, instead of the flip of
# the augmented view 0 (the default 'erase_then_flip', dacfer_se50_rafdb.py).
_base_ = ['./dacfer_se50_rafdb.py']
train_dataloader = dict(dataset=dict(pipeline={{_base_.independent_pair_train_pipeline}}))
