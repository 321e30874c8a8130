"""FERInferencer(onnx=FILE): the exported network as the classifier gives the PyTorch results."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmfer.datasets.synthfer_render import render, sample_params

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
CLASSES = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']
MISSING = [m for m in ('onnx', 'onnxscript', 'onnxruntime') if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=f'{", ".join(MISSING)} not installed (the `onnx` '
                       'extra: pip install -e ".[onnx]"; make install installs it)'),
    pytest.mark.usefixtures('one_thread')]


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    from mmfer.apis import export_onnx, init_model
    from mmfer.registry import MODELS
    from mmengine.config import Config
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CFG).model)
    folder = tmp_path_factory.mktemp('onnx')
    ckpt = str(folder / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(classes=CLASSES)), ckpt)
    onnx_file = export_onnx(init_model(CFG, ckpt), str(folder / 'tiny.onnx'), (32, 32))
    return ckpt, onnx_file


def faces(n):
    out = []
    for i in range(n):
        img, _ = render(sample_params(0, i, split='test'), size=64)
        out.append(cv2.resize(np.ascontiguousarray(img[:, :, ::-1]), (40, 40),
                              interpolation=cv2.INTER_AREA))
    return out


def test_onnx_classifier_matches_pytorch(exported):
    from mmfer.apis import FERInferencer
    ckpt, onnx_file = exported
    imgs = faces(5)
    ref = FERInferencer(CFG, ckpt, detector='whole_image', batch_size=2)(imgs)
    for model in (None, CFG):  # the file's metadata alone, or with the config
        fer = FERInferencer(model, detector='whole_image', batch_size=3, onnx=onnx_file)
        assert fer.onnx is not None and fer.input_size == (32, 32)
        assert fer.classes == CLASSES  # from the checkpoint, through the file's metadata
        got = fer(imgs)
        assert len(got) == 5
        for r, q in zip(got, ref):
            (a, ), (b, ) = r['faces'], q['faces']
            assert a['pred_label'] == b['pred_label'] and a['pred_class'] == b['pred_class']
            assert a['bbox'] == b['bbox']
            np.testing.assert_allclose(a['pred_scores'], b['pred_scores'], atol=1e-5)
            assert a['pred_score'] == max(a['pred_scores'])
            assert abs(sum(a['pred_scores']) - 1) < 1e-5


def test_onnx_option_errors(exported):
    from mmfer.apis import FERInferencer, init_model
    ckpt, onnx_file = exported
    with pytest.raises(ValueError, match='holds its weights'):
        FERInferencer(CFG, ckpt, detector='whole_image', onnx=onnx_file)
    with pytest.raises(ValueError, match='not a built model'):
        FERInferencer(init_model(CFG), detector='whole_image', onnx=onnx_file)
    with pytest.raises(ValueError, match='--shape H W'):
        FERInferencer(None, detector='whole_image', onnx=onnx_file, input_size=48)
    with pytest.raises(FileNotFoundError, match='pytorch2onnx'):
        FERInferencer(None, detector='whole_image', onnx=onnx_file + '.missing')
    with pytest.raises(ValueError, match='model is None'):
        FERInferencer(None, detector='whole_image')
