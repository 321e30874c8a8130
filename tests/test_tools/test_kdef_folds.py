"""tools/analysis/kdef_folds.py: every fold of a subject-disjoint KDEF split trained and tested
(a tiny LAN on 28 generated KDEF images in the release layout, 2 folds), mean ± std and the
pooled confusion matrix; fold configs and the summary arithmetic."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import kdef_folds  # noqa: E402

EXPRESSIONS = ('AF', 'AN', 'DI', 'HA', 'NE', 'SA', 'SU')
IDS = ('F01', 'F02', 'M01', 'M02')


def make_kdef(root):
    """Session A, 4 identities × 7 expressions, straight angle: KDEF/<AF01>/<AF01HAS>.JPG."""
    rng = np.random.default_rng(0)
    for ident in IDS:
        folder = root / f'A{ident}'
        folder.mkdir(parents=True)
        for e, exp in enumerate(EXPRESSIONS):
            img = rng.integers(0, 255, (40, 32, 3), dtype=np.uint8)
            img[:, :, e % 3] = 30 * e  # the expression shows in the colour
            cv2.imwrite(str(folder / f'A{ident}{exp}S.JPG'), img)


def tiny_config(tmp_path, data_root):
    lines = [
        f"_base_ = [{osp.join(ROOT, 'configs', 'lan', 'lan_r18_kdef.py')!r}]",
        "model = dict(backbone=dict(stem_channels=8, base_channels=8),",
        "             neck=dict(in_channels=64, widths=(8, 8, 8)),",
        "             head=dict(in_channels=64), pretrained=None)",
        "custom_hooks = [dict(type='GuidanceMapHook', restarts=2, extract_batch_size=16)]",
        "pipe = [dict(type='LoadFERImage'), dict(type='Resize', scale=(64, 64)),",
        "        dict(type='PackInputs')]",
        f"kd = dict(type='KDEF', data_root={str(data_root)!r}, angles=['S'], num_folds=2, "
        "pipeline=pipe)",
        "train_dataloader = dict(batch_size=7, num_workers=0, persistent_workers=False,",
        "    dataset=dict(num_splits=2, dataset=kd))",
        "val_dataloader = dict(batch_size=14, num_workers=0, persistent_workers=False,",
        "    dataset=dict(num_splits=2, dataset=kd))",
        "test_dataloader = val_dataloader",
        "val_cfg = None",
        "val_dataloader = None",
        "val_evaluator = None",
        "default_hooks = dict(checkpoint=dict(save_best=None), logger=dict(interval=1))",
        "optim_wrapper = dict(optimizer=dict(lr=0.01))",
        "train_cfg = dict(max_epochs=1)",
    ]
    path = tmp_path / 'kdef_tiny.py'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def test_a_fold_trained_tested_and_summarised(tmp_path):
    """One fold of two through the CLI (each fold is a full mmengine run, ~10 s on a loaded
    2-core box; the aggregation over folds is test_summary_arithmetic)."""
    make_kdef(tmp_path / 'KDEF')
    cfg = tiny_config(tmp_path, tmp_path / 'KDEF')
    work = tmp_path / 'work'
    proc = subprocess.run([sys.executable, 'tools/analysis/kdef_folds.py', cfg, '--work-dir',
                           str(work), '--folds', '1', '--cfg-options', 'randomness.seed=1'],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(__import__('os').environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.load(open(work / 'kdef_folds.json'))
    assert res['num_folds'] == 2 and list(res['folds']) == ['1']
    cm = np.array(res['pooled_confusion_matrix'])
    # fold 1 holds out 2 of the 4 identities: 14 images, 2 per class
    assert cm.shape == (7, 7) and cm.sum() == 14 and cm.sum(axis=1).tolist() == [2] * 7
    assert res['folds']['1'] == pytest.approx(100 * np.trace(cm) / 14, abs=1e-3)
    assert res['mean'] == res['folds']['1'] and res['std'] == 0.0
    assert f"1 folds: accuracy {res['mean']:.2f} ± 0.00 %" in proc.stdout
    assert osp.exists(work / 'fold_1' / 'epoch_1.pth') and not osp.exists(work / 'fold_0')


def test_fold_datasets_are_subject_disjoint(tmp_path):
    from mmfer.registry import DATASETS
    make_kdef(tmp_path / 'KDEF')
    cfg = kdef_folds.fold_config(Config.fromfile(tiny_config(tmp_path, tmp_path / 'KDEF')), 1, 2,
                                 str(tmp_path))
    train = DATASETS.build(cfg.train_dataloader.dataset)
    test = DATASETS.build(cfg.test_dataloader.dataset)
    ids = [{ds.get_data_info(i)['identity'] for i in range(len(ds))} for ds in (train, test)]
    assert len(train) == len(test) == 14 and len(ids[0]) == len(ids[1]) == 2
    assert not ids[0] & ids[1]


def test_fold_config_sets_every_wrapper():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'lan', 'lan_r18_kdef.py'))
    c3 = kdef_folds.fold_config(cfg, 3, 10, '/tmp/w')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = c3[key]['dataset']
        assert ds['fold'] == 3 and ds['num_splits'] == 10 and ds['dataset']['num_folds'] == 10
    assert c3.train_dataloader.dataset.test_mode is False
    assert c3.test_dataloader.dataset.test_mode is True
    assert c3.work_dir == '/tmp/w/fold_3' and cfg.train_dataloader.dataset.fold == 0
    bad = Config(dict(train_dataloader=dict(dataset=dict(type='RAFDB'))))
    with pytest.raises(ValueError, match='KFoldDataset'):
        kdef_folds.fold_config(bad, 0, 10, '/tmp/w')


def test_summary_arithmetic():
    cm = np.array([[3, 1], [0, 4]])
    res = kdef_folds.summarise({0: 90.0, 1: 100.0, 2: 95.0}, cm, ['a', 'b'])
    assert res['mean'] == 95.0 and res['std'] == 5.0
    assert res['std_population'] == pytest.approx(4.0825, abs=1e-4)
    assert res['pooled_accuracy'] == 87.5 and res['num_images'] == 8
