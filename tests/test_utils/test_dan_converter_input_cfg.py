"""Converted DAN checkpoints carry the official preprocessing (issue 10, item 11).

The official code resizes a PIL image with ``transforms.Resize((224, 224))`` (PIL bilinear); a
converted checkpoint's ``input_cfg`` used mmcv's cv2 ``Resize`` (up to a grey level off). Here a
converted file goes through ``init_model`` and its test pipeline must equal
``PIL.Image.resize(..., BILINEAR)`` exactly, and the normalised input the official
``ToTensor → Normalize`` to float rounding.
"""
import os.path as osp
from collections import OrderedDict

import cv2
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from mmfer.apis.inference import _image_pipeline, init_model
from mmfer.registry import MODELS
from mmfer.utils.converters.dan import INPUT_CFG, convert_dan_checkpoint, map_dan_key
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# the width-reduced DAN of the SynthFER config (256-channel map), one head: a small model with
# the official key layout (120 + 37·H + 7 entries)
CFG = osp.join(ROOT, 'configs/dan/dan_r18_synthfer.py')
OPTIONS = {'model.neck.num_heads': 1}

pytestmark = pytest.mark.usefixtures('one_thread')


def official_names(num_heads):
    """Key names of the official yaoing/DAN state dict (specs/dan.md §4), built from
    torchvision's ResNet-18 names, not from the converter's map."""
    rename = {'conv1.': 'features.0.', 'bn1.': 'features.1.', 'layer1.': 'features.4.',
              'layer2.': 'features.5.', 'layer3.': 'features.6.', 'layer4.': 'features.7.'}
    names = []
    for k in torchvision.models.resnet18().state_dict():
        if not k.startswith('fc.'):
            old = next(p for p in rename if k.startswith(p))
            names.append(rename[old] + k[len(old):])
    bn = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
    for h in range(num_heads):
        for conv in ('conv1x1', 'conv_3x3', 'conv_1x3', 'conv_3x1'):
            names += [f'cat_head{h}.sa.{conv}.0.{p}' for p in ('weight', 'bias')]
            names += [f'cat_head{h}.sa.{conv}.1.{p}' for p in bn]
        names += [f'cat_head{h}.ca.attention.{i}.{p}' for i in (0, 3) for p in ('weight', 'bias')]
        names += [f'cat_head{h}.ca.attention.1.{p}' for p in bn]
    return names + ['fc.weight', 'fc.bias'] + [f'bn.{p}' for p in bn]


@pytest.fixture(scope='module')
def converted_file(tmp_path_factory):
    cfg = Config.fromfile(CFG)
    cfg.merge_from_dict(OPTIONS)
    model = MODELS.build(cfg.model)
    sd = model.state_dict()
    torch.manual_seed(0)
    official = OrderedDict((k, torch.randn_like(sd[map_dan_key(k)].float()).to(
        sd[map_dan_key(k)].dtype)) for k in official_names(1))
    converted = convert_dan_checkpoint({'iter': 21, 'model_state_dict': official}, 'rafdb',
                                       model=model, source='rafdb_epoch21.pth')
    path = tmp_path_factory.mktemp('dan') / 'dan_rafdb_converted.pth'
    torch.save(converted, path)
    return str(path), cfg


def test_input_cfg_resizes_with_pillow_bilinear(converted_file):
    resize = [t for t in INPUT_CFG['test_pipeline'] if t['type'] == 'Resize']
    assert resize == [dict(type='Resize', scale=(224, 224), backend='pillow',
                           interpolation='bilinear')]
    ckpt = torch.load(converted_file[0], weights_only=True)
    assert ckpt['meta']['input_cfg'] == INPUT_CFG
    assert ckpt['meta']['input_cfg'] is not INPUT_CFG  # a copy: editing meta leaves the constant


@pytest.mark.parametrize('shape', [(61, 83), (300, 260)])  # up- and down-sampling, non-square
def test_init_model_reproduces_official_preprocessing(converted_file, shape):
    path, cfg = converted_file
    model = init_model(cfg, path)
    assert model.classes == ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger',
                             'Neutral']
    assert model.test_pipeline == INPUT_CFG['test_pipeline']
    rng = np.random.default_rng(1)
    # smooth gradient + noise: rounding differences between resamplers show up
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    base = (np.stack([xx * 3, yy * 2, xx + yy], -1) % 256).astype(np.float64)
    bgr = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)

    out = _image_pipeline(model.test_pipeline)(
        dict(img=bgr, img_shape=bgr.shape[:2], ori_shape=bgr.shape[:2]))
    ours = out['inputs'].permute(1, 2, 0).numpy()  # 224×224×3, BGR uint8
    rgb = Image.fromarray(bgr[..., ::-1].copy())  # the official Image.open(...).convert('RGB')
    official = np.asarray(rgb.resize((224, 224), Image.BILINEAR))
    np.testing.assert_array_equal(ours[..., ::-1], official)
    # mmcv's cv2 resize (the old input_cfg) is not the same image
    old = cv2.resize(bgr, (224, 224), interpolation=cv2.INTER_LINEAR)
    assert np.abs(old.astype(int) - ours.astype(int)).max() >= 1

    # normalised as the official ToTensor → Normalize(ImageNet) on RGB
    data = model.data_preprocessor(dict(inputs=[out['inputs']],
                                        data_samples=[out['data_samples']]), False)
    ref = torchvision.transforms.functional.normalize(
        torchvision.transforms.functional.to_tensor(rgb.resize((224, 224), Image.BILINEAR)),
        mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    torch.testing.assert_close(data['inputs'][0], ref, atol=1e-6, rtol=0)
