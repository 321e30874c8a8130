# SynthFER written to disk in the RAF-DB layout by
#   python tools/dataset_converters/synthfer_writer.py --format rafdb --out data/synthfer_rafdb
# and read by the real RAFDB reader (so the quick start exercises the loader users' data uses).
_base_ = ['./rafdb.py']
data_root = 'data/synthfer_rafdb'
img_size = 64
# Resize backend: cv2 (mmcv's default, what every recorded SynthFER result used). Bilinear
# 100 → 64 px: cv2 samples 2×2 pixels, pillow (PIL, torchvision's) widens its filter when
# shrinking; the two differ by up to 67 grey levels at edges (mean 1.4) and pillow makes the
# whole train pipeline 1.5× slower (docs/data_loading.md, tools/analysis/benchmark_pipeline.py).
# 'pillow' reproduces torchvision's resize exactly.
resize_backend = 'cv2'
train_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend=resize_backend),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadFERImage'),
    dict(type='Resize', scale=(img_size, img_size), backend=resize_backend),
    dict(type='PackInputs'),
]
# loaders sized to the machine (mmfer/datasets/loader_auto.py): 0 workers on <= 2 cores
train_dataloader = dict(
    batch_size=64, num_workers='auto', persistent_workers='auto',
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128, num_workers='auto', persistent_workers='auto',
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
