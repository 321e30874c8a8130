"""inference_model input validation: each accepted layout gives the uint8-BGR prediction, each
refused input gives a message that names the problem and the conversion."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmfer.apis import build_model, check_image, inference_model, init_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    torch.manual_seed(0)
    net = build_model(Config.fromfile(CFG))
    path = tmp_path_factory.mktemp('ckpt') / 'm.pth'
    torch.save(dict(state_dict=net.state_dict(), meta=dict(
        classes=['c%d' % i for i in range(7)],
        input_cfg=dict(test_pipeline=[dict(type='LoadFERImage'),
                                      dict(type='Resize', scale=(32, 32)),
                                      dict(type='PackInputs')]))), path)
    return init_model(CFG, str(path))


@pytest.fixture(scope='module')
def bgr():
    return (np.random.RandomState(0).rand(48, 40, 3) * 255).astype(np.uint8)


def _scores(model, img):
    return np.array(inference_model(model, img)[0]['scores'])


def test_bgr_uint8_reference(model, bgr):
    res = inference_model(model, bgr)
    assert len(res) == 1 and len(res[0]['scores']) == 7
    assert abs(sum(res[0]['scores']) - 1) < 1e-5
    assert res[0]['pred_class'] == 'c%d' % res[0]['pred_label']


def test_bgra_drops_alpha(model, bgr):
    alpha = np.random.RandomState(1).randint(0, 256, bgr.shape[:2] + (1, ), dtype=np.uint8)
    bgra = np.concatenate([bgr, alpha], axis=2)
    np.testing.assert_array_equal(check_image(bgra), bgr)
    np.testing.assert_allclose(_scores(model, bgra), _scores(model, bgr), rtol=0, atol=0)


def test_grayscale_is_replicated(model, bgr):
    gray = bgr[:, :, 1]
    three = np.repeat(gray[:, :, None], 3, axis=2)
    ref = _scores(model, three)
    np.testing.assert_allclose(_scores(model, gray), ref, rtol=0, atol=0)
    np.testing.assert_allclose(_scores(model, gray[:, :, None]), ref, rtol=0, atol=0)


def test_non_contiguous_view(model, bgr):
    view = bgr[:, ::-1]
    assert not view.flags['C_CONTIGUOUS']
    np.testing.assert_allclose(_scores(model, view), _scores(model, view.copy()), rtol=0, atol=0)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_float_arrays_are_refused(model, bgr, dtype):
    img = bgr.astype(dtype) / 255.
    with pytest.raises(TypeError) as err:
        inference_model(model, [bgr, img])
    msg = str(err.value)
    assert msg.startswith(f'inference_model: image 1 has dtype {np.dtype(dtype).name}, values 0.')
    assert 'expects uint8 0..255 BGR' in msg
    assert '(img * 255).round().clip(0, 255).astype(np.uint8)' in msg
    # the documented conversion gives the uint8 prediction back exactly
    fixed = (img * 255).round().clip(0, 255).astype(np.uint8)
    np.testing.assert_allclose(_scores(model, fixed), _scores(model, bgr), rtol=0, atol=0)


@pytest.mark.parametrize('dtype,fix', [(np.uint16, '(img // 257).astype(np.uint8)'),
                                       (np.int64, 'img.astype(np.uint8)'),
                                       (bool, 'img.astype(np.uint8) * 255')])
def test_other_dtypes_are_refused(model, bgr, dtype, fix):
    with pytest.raises(TypeError, match=f'image 0 has dtype {np.dtype(dtype).name}') as err:
        inference_model(model, bgr.astype(dtype))
    assert fix in str(err.value)


def test_uint16_conversion_matches(model, bgr):
    img16 = bgr.astype(np.uint16) * 257  # what a 16-bit PNG of the same picture holds
    np.testing.assert_allclose(_scores(model, (img16 // 257).astype(np.uint8)),
                               _scores(model, bgr), rtol=0, atol=0)


@pytest.mark.parametrize('shape,part', [((2, 48, 40, 3), 'a batch? pass a list'),
                                        ((48, 40, 2), 'shape (48, 40, 2)'),
                                        ((48, 40, 5), 'shape (48, 40, 5)'),
                                        ((48, ), 'shape (48,)')])
def test_bad_shapes(model, shape, part):
    with pytest.raises(ValueError, match='expected H×W×3') as err:
        inference_model(model, np.zeros(shape, np.uint8))
    assert part in str(err.value)


def test_empty_inputs(model):
    with pytest.raises(ValueError, match=r'image 0 is empty \(shape \(0, 40, 3\)\)'):
        inference_model(model, np.zeros((0, 40, 3), np.uint8))
    with pytest.raises(ValueError, match='the image list is empty'):
        inference_model(model, [])


def test_not_arrays(model, bgr):
    with pytest.raises(TypeError, match=r'torch.Tensor; pass a file path or a numpy uint8 array'
                                        r'.*permute\(1, 2, 0\)'):
        inference_model(model, torch.from_numpy(bgr).permute(2, 0, 1))
    from PIL import Image
    with pytest.raises(TypeError, match=r'np.asarray\(img.convert\("RGB"\)\)\[:, :, ::-1\]'):
        inference_model(model, Image.fromarray(bgr[:, :, ::-1]))
    rgb = np.asarray(Image.fromarray(bgr[:, :, ::-1]).convert('RGB'))[:, :, ::-1]
    np.testing.assert_allclose(_scores(model, rgb), _scores(model, bgr), rtol=0, atol=0)


def test_paths(model, bgr, tmp_path):
    png = tmp_path / 'face.png'
    cv2.imwrite(str(png), bgr)
    ref = _scores(model, bgr)
    np.testing.assert_allclose(_scores(model, str(png)), ref, rtol=0, atol=0)
    np.testing.assert_allclose(_scores(model, png), ref, rtol=0, atol=0)  # pathlib.Path
    bgra_png = tmp_path / 'alpha.png'
    cv2.imwrite(str(bgra_png), np.concatenate([bgr, np.full(bgr.shape[:2] + (1, ), 7,
                                                            np.uint8)], axis=2))
    np.testing.assert_allclose(_scores(model, str(bgra_png)), ref, rtol=0, atol=0)

    missing = tmp_path / 'missing.jpg'
    with pytest.raises(FileNotFoundError, match=f'image 1: {missing} does not exist'):
        inference_model(model, [str(png), str(missing)])
    with pytest.raises(IsADirectoryError, match=f'{tmp_path} is a directory'):
        inference_model(model, str(tmp_path))
    bad = tmp_path / 'bad.jpg'
    bad.write_text('not an image')
    with pytest.raises(ValueError, match=f'{bad} cannot be decoded by OpenCV'):
        inference_model(model, str(bad))


def test_needs_init_model(bgr):
    with pytest.raises(AttributeError, match='needs a model from mmfer.apis.init_model'):
        inference_model(torch.nn.Linear(2, 2), bgr)


def test_init_model_file_errors(tmp_path):
    """A checkpoint path that is missing, or a file that is not a checkpoint, gets mmfer's
    error naming the file and the fix (mmfer.utils.checkpoint)."""
    from mmfer.utils.checkpoint import CorruptCheckpointError
    missing = tmp_path / 'none.pth'
    with pytest.raises(FileNotFoundError, match=str(missing)):
        init_model(CFG, str(missing))
    text = tmp_path / 'notes.pth'
    text.write_text('this is not a checkpoint\n')
    with pytest.raises(CorruptCheckpointError) as err:
        init_model(CFG, str(text))
    msg = str(err.value)
    assert msg.startswith(f'{text}: not a readable PyTorch checkpoint')
    assert 'Fix: compare its size / checksum with the source' in msg
