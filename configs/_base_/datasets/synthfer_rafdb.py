# SynthFER written to disk in the RAF-DB layout by
#   python tools/dataset_converters/synthfer_writer.py --format rafdb --out data/synthfer_rafdb
# and read by the real RAFDB reader (so the quick start exercises the loader users' data uses).
_base_ = ['./rafdb.py']
data_root = 'data/synthfer_rafdb'
img_size = 64
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
train_dataloader = dict(
    batch_size=64, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128, num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
