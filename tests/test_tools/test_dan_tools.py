"""DAN command-line tools run as subprocesses: both converters and vis_attention.py."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import torch
import torchvision

import mmfer  # noqa: F401  (safe globals for loading the outputs)
from mmfer.datasets.class_maps import CLASS_ORDERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _layout_builder():
    path = osp.join(ROOT, 'tests', 'test_utils', 'test_converters', 'test_dan.py')
    spec = importlib.util.spec_from_file_location('_dan_layout', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.official_dan_state_dict


def run(args, expect_ok=True):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def test_dan_to_mmfer_cli(tmp_path):
    official_dan_state_dict = _layout_builder()
    src, dst = tmp_path / 'rafdb_epoch21.pth', tmp_path / 'out' / 'dan_rafdb.pth'
    sd = official_dan_state_dict()
    torch.save({'iter': 21, 'model_state_dict': sd,
                'optimizer_state_dict': {'state': {}, 'param_groups': [{'lr': 0.01}]}}, src)
    proc = run(['tools/model_converters/dan_to_mmfer.py', str(src), str(dst),
                '--dataset', 'rafdb'])
    assert 'converted 275 entries (7 classes, 4 heads' in proc.stdout
    out = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(out) == {'state_dict', 'meta'}
    assert len(out['state_dict']) == 275
    assert out['meta']['classes'] == list(CLASS_ORDERS['rafdb'])
    assert torch.equal(out['state_dict']['neck.heads.3.channel.fc1.weight'],
                       sd['cat_head3.ca.attention.0.weight'])
    # a file with a key outside the official layout is refused, nothing written
    sd['cat_head0.sa.unknown.weight'] = torch.zeros(3)
    torch.save({'iter': 1, 'model_state_dict': sd}, src)
    bad = tmp_path / 'bad.pth'
    proc = run(['tools/model_converters/dan_to_mmfer.py', str(src), str(bad), '--dataset',
                'rafdb'], expect_ok=False)
    assert proc.returncode != 0 and 'cat_head0.sa.unknown.weight' in proc.stderr
    assert not bad.exists()


def test_resnet18_msceleb_cli(tmp_path):
    tv = torchvision.models.resnet18()
    src, dst = tmp_path / 'resnet18_msceleb.pth', tmp_path / 'r18_mmfer.pth'
    torch.save({'state_dict': tv.state_dict(), 'epoch': 30}, src)
    proc = run(['tools/model_converters/resnet18_msceleb_to_mmfer.py', str(src), str(dst)])
    assert "dropped ['fc.weight', 'fc.bias']" in proc.stdout
    out = torch.load(dst, map_location='cpu', weights_only=True)
    assert len(out['state_dict']) == 120
    assert torch.equal(out['state_dict']['backbone.layer4.1.bn2.running_var'],
                       tv.state_dict()['layer4.1.bn2.running_var'])


def test_vis_attention_cli(tmp_path):
    out = tmp_path / 'attention.png'
    proc = run(['tools/analysis/vis_attention.py', 'configs/dan/dan_r18_synthfer.py',
                '--no-ckpt', '--synthfer', '2', '--synthfer-size', '64', '--tile', '96',
                '--out', str(out), '--cfg-options', 'model.neck.num_heads=3'])
    assert 'saved 3 attn_maps map(s) (2×2) for 2 images' in proc.stdout
    img = cv2.imread(str(out))
    assert img.shape == (2 * 96, 4 * 96, 3)  # 2 rows; input + 3 heads
    # every head tile is a heat overlay, not the input tile
    first = img[:96, :96].astype(int)
    for h in range(1, 4):
        assert np.abs(img[:96, h * 96:(h + 1) * 96].astype(int) - first).mean() > 5
