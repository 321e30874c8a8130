"""tools/analysis/vis_landmarks.py and landmark_mean_shape.py on tiny inputs."""
import importlib.util
import os.path as osp

import cv2
import pytest
import torch
from mmengine.config import Config

from mmfer.apis import build_model

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'landmarks', 'mobilefacenet_synthfer.py')


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name[:-3],
                                                  osp.join(ROOT, 'tools', 'analysis', name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mean_shape_floor():
    value = load_tool('landmark_mean_shape.py').main(['--train', '12', '--test', '6'])
    # a mean shape is a poor but finite predictor: tens of percent of the inter-ocular distance
    assert 5.0 < value < 80.0


def test_vis_landmarks_writes_the_grid(tmp_path):
    torch.manual_seed(0)
    model = build_model(Config.fromfile(CFG))
    ckpt = str(tmp_path / 'lm.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    out = str(tmp_path / 'grid.png')
    mean_nme = load_tool('vis_landmarks.py').main(
        [CFG, ckpt, '--num-images', '3', '--cols', '2', '--tile', '64', '--out', out])
    img = cv2.imread(out)
    assert img.shape == (128, 128, 3)  # 3 tiles of 64 px in 2 columns (one blank)
    assert mean_nme > 0
