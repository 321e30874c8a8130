"""DAN's torchvision-style augmentations expressed in mmfer pipelines match torchvision."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from PIL import Image
from torchvision import transforms as T

from mmfer.registry import TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


def _image(size=48, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize('seed', range(12))
def test_normalized_random_erasing_matches_torchvision(seed):
    bgr = _image(seed=seed)
    mine = TRANSFORMS.build(dict(type='NormalizedRandomErasing', prob=0.5, scale=(0.02, 0.33)))
    torch.manual_seed(seed)
    out = mine(dict(img=bgr.copy()))['img']
    # torchvision on the normalised RGB tensor, same torch random stream
    rgb = bgr[:, :, ::-1].astype(np.float64)
    tensor = torch.from_numpy(((rgb - MEAN) / STD).transpose(2, 0, 1).copy()).float()
    torch.manual_seed(seed)
    ref = T.RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0)(tensor)
    ref_mask = (ref == 0).all(dim=0).numpy()
    fill_bgr = np.round(MEAN[::-1]).astype(np.uint8)
    mask = (out == fill_bgr).all(axis=2)
    assert np.array_equal(mask, ref_mask)
    assert np.array_equal(out[~mask], bgr[~mask])  # nothing else touched


def test_normalized_random_erasing_probability_and_fill():
    always = TRANSFORMS.build(dict(type='NormalizedRandomErasing', prob=1.0, value=1.0,
                                   channel_order='rgb'))
    torch.manual_seed(0)
    out = always(dict(img=np.zeros((64, 64, 3), np.uint8)))['img']
    expected = np.round(MEAN + STD).astype(np.uint8)  # normalises to 1
    area = int((out == expected).all(axis=2).sum())
    assert 0.02 * 64 * 64 * 0.8 <= area <= 0.33 * 64 * 64 * 1.2
    never = TRANSFORMS.build(dict(type='NormalizedRandomErasing', prob=0.0))
    img = _image()
    assert np.array_equal(never(dict(img=img.copy()))['img'], img)
    with pytest.raises(ValueError, match='channel_order'):
        TRANSFORMS.build(dict(type='NormalizedRandomErasing', channel_order='hsv'))


def _rafdb_random_apply():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/dan/dan_r18_rafdb.py'))
    step = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'RandomApply'][0]
    return step


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_rotation_and_crop_applied_together_as_torchvision(seed):
    step = _rafdb_random_apply()
    assert step['prob'] == 0.2
    step = dict(step, prob=1.0)  # the inner pair, always applied
    pipeline = Compose([step])
    img = _image(size=224, seed=seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    out = pipeline(dict(img=img.copy()))['img']
    torch.manual_seed(seed)
    ref = T.Compose([T.RandomRotation(20), T.RandomCrop(224, padding=32)])(Image.fromarray(img))
    assert out.shape == (224, 224, 3)
    assert np.array_equal(out, np.asarray(ref))
    assert not np.array_equal(out, img)


def test_rafdb_pipeline_output():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/dan/dan_r18_rafdb.py'))
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    np.random.seed(0)
    torch.manual_seed(0)
    out = pipeline(dict(img=_image(size=100), img_path='x.jpg', gt_label=3))
    assert tuple(out['inputs'].shape) == (3, 224, 224)
    assert int(out['data_samples'].gt_label) == 3
