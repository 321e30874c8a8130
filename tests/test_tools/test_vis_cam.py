"""tools/analysis/vis_cam.py: Grad-CAM through grad-cam equals a hand computation on the tiny
model, token outputs are laid out as maps, and the tool runs as a subprocess (PNG + .npy)."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from tool_loader import load_tool as load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
TOOL = osp.join(ROOT, 'tools', 'analysis', 'vis_cam.py')
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec('pytorch_grad_cam') is None,
                       reason='grad-cam not installed (the `vis` extra: pip install -e '
                       '".[vis]"; make install installs it)'),
    pytest.mark.usefixtures('one_thread')]


def load_tool():
    return load_script(TOOL)


def faces(n, size=32):
    from mmfer.datasets.synthfer_render import render, sample_params
    out = []
    for i in range(n):
        rgb, ann = render(sample_params(0, i, split='test'), size=size)
        out.append((np.ascontiguousarray(rgb[:, :, ::-1]), f'f{i}', int(ann['label'])))
    return out


def test_gradcam_equals_hand_computation():
    from mmfer.apis import init_model
    tool = load_tool()
    torch.manual_seed(0)
    model = init_model(CFG)
    x = tool.preprocess(model, faces(3, size=64), (64, 64))  # layer3: 4×4 maps
    targets = [0, 3, 6]
    got = tool.compute_cams(model, 'backbone.layer3', x, targets, 'gradcam')
    assert got.shape == (3, 64, 64) and got.dtype == np.float32

    # Grad-CAM by hand: weights = spatial mean of d logit_t / d A, cam = ReLU(Σ_c w_c A_c)
    store = {}
    layer = model.backbone.layer3
    hook = layer.register_forward_hook(lambda m, i, o: store.__setitem__('a', o))
    logits = model(x, mode='tensor')
    hook.remove()
    act = store['a']
    grads = torch.autograd.grad(logits[torch.arange(3), torch.tensor(targets)].sum(), act)[0]
    cam = torch.relu((grads.mean((2, 3), keepdim=True) * act).sum(1)).detach().numpy()
    for k in range(3):
        c = cam[k] - cam[k].min()
        c = cv2.resize(np.float32(c / (1e-7 + c.max())), (64, 64))  # grad-cam's scaling
        c = np.maximum(c, 0)
        c = (c - c.min()) / (1e-7 + (c - c.min()).max())
        assert c.max() > 0.99 and c.std() > 0.05  # not a flat map
        np.testing.assert_allclose(got[k], c, atol=1e-4)
    # another class gives another map; Grad-CAM++ runs through the same wrapper
    other = tool.compute_cams(model, 'backbone.layer3', x, [1, 1, 1], 'gradcam')
    assert np.abs(other - got).max() > 0.05
    pp = tool.compute_cams(model, 'backbone.layer3', x, targets, 'gradcam++')
    assert pp.shape == got.shape and 0 <= pp.min() and pp.max() <= 1 + 1e-6


def test_tokens_to_maps_and_layer_names():
    from mmfer.apis import build_model
    tool = load_tool()
    tokens = torch.arange(2 * 17 * 5, dtype=torch.float32).reshape(2, 17, 5)
    maps = tool.tokens_to_maps(tokens, 'cls+square')  # 1 class token + 4×4
    assert maps.shape == (2, 5, 4, 4)
    assert torch.equal(maps[1, :, 2, 3], tokens[1, 1 + 2 * 4 + 3])
    assert torch.equal(tool.tokens_to_maps(tokens[:, 1:], 'square'), maps)
    with pytest.raises(ValueError, match='not a square grid'):
        tool.tokens_to_maps(tokens[:, :7], 'square')
    with pytest.raises(ValueError, match='pass --tokens'):
        tool.tokens_to_maps(tokens)  # never guessed: POSTER's 1 + 48 tokens fit 7×7 too
    model = build_model(CFG)
    with pytest.raises(KeyError, match='close names: backbone.layer4'):
        tool.find_layer(model, 'backbone.layer_4')


def test_vis_cam_subprocess(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    folder = tmp_path / 'faces'
    folder.mkdir()
    for img, name, _ in faces(3, size=48):
        cv2.imwrite(str(folder / f'{name}.png'), img)
    out, npy = tmp_path / 'cam.png', tmp_path / 'cams.npy'
    proc = subprocess.run([sys.executable, TOOL, CFG, '--no-ckpt', '--target-layer',
                           'backbone.layer3', '--img-dir', str(folder), '--method', 'gradcam++',
                           '--cols', '2', '--tile', '64', '--out', str(out), '--save-npy',
                           str(npy)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grid = cv2.imread(str(out))
    assert grid.shape == (2 * 64, 2 * 2 * 64, 3)  # 3 images in rows of 2 pairs of tiles
    cams = np.load(npy)
    assert cams.shape == (3, 32, 32) and cams.min() >= 0 and cams.max() <= 1 + 1e-6
    summary = json.loads((tmp_path / 'cams.json').read_text())
    assert summary['names'] == ['f0.png', 'f1.png', 'f2.png']
    assert summary['targets'] == summary['preds'] and summary['method'] == 'gradcam++'
