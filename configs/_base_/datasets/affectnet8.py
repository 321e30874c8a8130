# AffectNet official CSV release (datasets.md §3.1), 8 classes (with Contempt), AffectNet order.
_base_ = ['./affectnet7.py']
data_preprocessor = dict(num_classes=8)
train_dataloader = dict(dataset=dict(num_classes=8))
val_dataloader = dict(dataset=dict(num_classes=8))
test_dataloader = val_dataloader
