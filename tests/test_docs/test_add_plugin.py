"""The worked example of docs/add_plugin.md builds, computes the documented loss and trains."""
import os
import os.path as osp
import subprocess
import sys

import torch
from mmengine.config import Config

from mmfer.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EXAMPLE = osp.join(ROOT, 'docs', 'examples', 'custom_plugin')


def test_example_config_builds_and_loss_is_as_documented():
    sys.path.insert(0, EXAMPLE)
    try:
        cfg = Config.fromfile(osp.join(EXAMPLE, 'gated_r18_synthfer.py'))
        model = MODELS.build(cfg.model)
    finally:
        sys.path.remove(EXAMPLE)
    assert type(model.neck).__name__ == 'GatedPoolNeck'
    # gate: Conv2d(256, 1, 1) → 257 parameters
    assert sum(p.numel() for p in model.neck.parameters()) == 257
    names = [loss.loss_name for loss in model.head.losses]
    assert names == ['loss_ce', 'loss_gate']
    # the gate loss is 0.1 × mean gate: with a zero conv the gate is σ(0) = 0.5 everywhere
    with torch.no_grad():
        model.neck.gate.weight.zero_()
        model.neck.gate.bias.zero_()
    feats = model.neck((torch.rand(2, 256, 2, 2), ))
    assert feats['attn_maps'].shape == (2, 1, 2, 2)
    gate_loss = model.head.losses[1](dict(feats), torch.tensor([0, 1]))
    assert abs(gate_loss.item() - 0.05) < 1e-7


def test_example_trains_from_the_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=EXAMPLE + os.pathsep + ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'docs/examples/custom_plugin/gated_r18_synthfer.py',
         '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=1',
         'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
         'train_dataloader.dataset.num_samples=16', 'train_dataloader.batch_size=8',
         'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
         'val_dataloader.dataset.num_samples=8', 'default_hooks.logger.interval=1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert 'loss_gate:' in log and 'loss_ce:' in log
    assert osp.exists(tmp_path / 'epoch_1.pth')
