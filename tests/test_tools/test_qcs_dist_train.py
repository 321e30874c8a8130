"""`bash tools/dist_train.sh configs/qcs/qcs_synthfer.py 2` on CPU (gloo): QCS with SAM trains,
both ranks end with the same weights, and the checkpoint reloads for tools/test.py."""
import json
import os
import os.path as osp
import subprocess
import sys

import torch

import mmfer  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PYPATH = os.pathsep.join([ROOT, osp.join(ROOT, 'tests', 'data'),
                          os.environ.get('PYTHONPATH', '')])
TINY = [
    'train_cfg.max_epochs=1', 'train_dataloader.batch_size=4',
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.dataset.num_samples=16',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'val_dataloader.dataset.num_samples=8', 'test_dataloader.dataset.num_samples=8',
    'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1',
]


def test_qcs_dist_train_two_ranks(tmp_path):
    cfg = tmp_path / 'qcs_tiny.py'
    cfg.write_text(
        f"_base_ = [{osp.join(ROOT, 'configs', 'qcs', 'qcs_synthfer.py')!r}]\n"
        "custom_imports = dict(imports=['lead_hooks'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='DatasetEpochHook'), "
        "dict(type='DumpRankWeightsHook')]\n")
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(31500 + os.getpid() % 1000),
               PYTHONPATH=PYPATH, OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir',
                           str(tmp_path), '--cfg-options', *TINY],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-6000:]
    log = proc.stdout + proc.stderr
    # 16 anchors, 2 ranks, 4 quadruplets per rank and step → 2 iterations per epoch
    assert 'Epoch(train) [1][2/2]' in log
    assert 'loss_base' in log and 'loss_cross' in log
    r0 = torch.load(tmp_path / 'rank0.pth', weights_only=True)['params']
    r1 = torch.load(tmp_path / 'rank1.pth', weights_only=True)['params']
    assert any(k.startswith('cross_neck.csa.') for k in r0)  # the training model was trained
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    proc = subprocess.run([sys.executable, 'tools/test.py', str(cfg),
                           str(tmp_path / 'epoch_1.pth'), '--work-dir', str(tmp_path / 't'),
                           '--cfg-options', *TINY],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    metrics = json.load(open(tmp_path / 't' / 'metrics.json'))
    assert int(torch.tensor(metrics['confusion_matrix']).sum()) == 8
