"""demo/image_demo.py, demo/video_demo.py and tools/analysis/benchmark_inferencer.py, each run
as a subprocess on tiny generated data (SynthFER renders; the tiny 32 px config)."""
import csv
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmfer.datasets.synthfer_render import render, sample_params
from optional_deps import needs_retinaface

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')


def run(script, *args, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    proc = subprocess.run([sys.executable, osp.join(ROOT, script), *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{script} failed:\n{proc.stdout}\n{proc.stderr}'
    return proc.stdout


def face(i, size=112):
    return np.ascontiguousarray(render(sample_params(0, i, split='test'), size=size)[0][..., ::-1])


def two_faces(t):
    img = np.full((200, 320, 3), 80, np.uint8)
    img[30:142, 10 + 2 * t:122 + 2 * t] = face(t % 3)
    img[50:162, 196:308] = face(3 + t % 3)
    return img


def write_video(path, frames, fps=10):
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()


def count_frames(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def test_image_demo_on_a_folder_of_crops(tmp_path):
    folder = tmp_path / 'crops'
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f'f{i}.png'), face(i, size=32))
    out = tmp_path / 'out'
    text = run('demo/image_demo.py', folder, CFG, '--detector', 'whole_image', '--out-dir', out,
               '--save-crops', '--batch-size', '2')
    lines = [ln for ln in text.splitlines() if ' face 0: ' in ln]
    assert len(lines) == 3
    assert '3 images, 3 faces in ' in text and 'faces/s (detector included, batch size 2)' in text
    saved = json.loads((out / 'predictions.json').read_text())
    assert [osp.basename(s['source']) for s in saved] == ['f0.png', 'f1.png', 'f2.png']
    for line, s in zip(lines, saved):
        f = s['faces'][0]
        assert f'face 0: {f["pred_class"]} {f["pred_score"]:.3f}  [0, 0, 32, 32]' in line
    assert sorted(os.listdir(out / 'vis')) == ['f0.png', 'f1.png', 'f2.png']
    assert sorted(os.listdir(out / 'crops')) == ['f0_face0.png', 'f1_face0.png', 'f2_face0.png']


@needs_retinaface
def test_image_demo_retinaface_two_faces(tmp_path):
    path = tmp_path / 'two.png'
    cv2.imwrite(str(path), two_faces(0))
    text = run('demo/image_demo.py', path, CFG, '--detector', 'retinaface')
    assert 'two.png  face 0: ' in text and 'two.png  face 1: ' in text
    assert '1 images, 2 faces in ' in text


def test_video_demo_writes_video_csv_json(tmp_path):
    frames = [cv2.resize(face(i % 3, size=64), (48, 48)) for i in range(6)]
    video = tmp_path / 'clip.mp4'
    write_video(video, frames)
    out = tmp_path / 'out'
    text = run('demo/video_demo.py', video, CFG, '--detector', 'whole_image', '--out-dir', out,
               '--batch-size', '4', '--log-interval', '3')
    assert 'total: 6 frames, 6 faces in ' in text and 'frames/s' in text
    assert text.count('frames/s') == 3  # after frames 3 and 6, and the total
    with open(out / 'clip.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['frame']) for r in rows] == list(range(6))
    assert all(r['face'] == '0' and r['x2'] == '48.0' and r['pred_class'] for r in rows)
    assert count_frames(out / 'clip.mp4') == 6
    results = json.loads((out / 'clip.json').read_text())
    assert [r['faces'][0]['pred_class'] for r in results] == [r['pred_class'] for r in rows]
    # --max-frames stops early
    text = run('demo/video_demo.py', video, CFG, '--detector', 'whole_image', '--max-frames',
               '2', '--log-interval', '0')
    assert 'total: 2 frames, 2 faces' in text


@needs_retinaface
def test_video_demo_retinaface_rows_for_frames_without_faces(tmp_path):
    blank = np.full((200, 320, 3), 80, np.uint8)
    video = tmp_path / 'v.mp4'
    write_video(video, [two_faces(0), blank, two_faces(1)])
    out = tmp_path / 'out'
    run('demo/video_demo.py', video, CFG, '--out-dir', out)
    with open(out / 'v.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [(r['frame'], r['face']) for r in rows] == [('0', '0'), ('0', '1'), ('1', ''),
                                                      ('2', '0'), ('2', '1')]


def test_benchmark_inferencer(tmp_path):
    out = tmp_path / 'bench.json'
    text = run('tools/analysis/benchmark_inferencer.py', CFG, '--detector', 'whole_image',
               '--images', 4, '--frames', 5, '--long-frames', 120, '--batch-sizes', 1, 4,
               '--work-dir', tmp_path / 'data', '--out', out)
    res = json.loads(out.read_text())
    assert [(r['input'], r['batch_size'], r['items'], r['faces']) for r in res['runs']] == [
        ('images', 1, 4, 4), ('images', 4, 4, 4), ('video', 1, 5, 5), ('video', 4, 5, 5)]
    assert all(r['faces_per_s'] > 0 and r['classifier_faces_per_s'] > r['faces_per_s']
               for r in res['runs'])
    mem = res['memory_mib']
    assert mem['frames'] == 120 and mem['end'] >= mem['after_model'] > 0
    assert 'RSS (MiB): start' in text and 'images       4' in text
    assert len(os.listdir(tmp_path / 'data' / 'images')) == 4
    assert res['classifier'] == 'pytorch' and res['onnx'] is None


def test_benchmark_inferencer_onnx(tmp_path):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxscript')
    from mmfer.apis import export_onnx, init_model
    onnx_file = export_onnx(init_model(CFG), str(tmp_path / 'tiny.onnx'), (32, 32))
    out = tmp_path / 'bench.json'
    text = run('tools/analysis/benchmark_inferencer.py', CFG, '--detector', 'whole_image',
               '--images', 3, '--frames', 0, '--long-frames', 0, '--batch-sizes', 2,
               '--work-dir', tmp_path / 'data', '--out', out, '--onnx', onnx_file)
    res = json.loads(out.read_text())
    assert res['classifier'] == 'onnxruntime' and res['onnx'] == onnx_file
    assert [(r['input'], r['batch_size'], r['faces']) for r in res['runs']] == [
        ('images', 2, 3)]
    assert 'classifier onnxruntime' in text


@needs_retinaface
def test_docs_picture_script(tmp_path, capsys):
    """docs/examples/inference_picture.py (the picture of docs/inference.md), in-process."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'inference_picture', osp.join(ROOT, 'docs', 'examples', 'inference_picture.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / 'pic.png'
    module.main([str(out)])
    assert '3 faces; wrote' in capsys.readouterr().out
    pic = cv2.imread(str(out))
    assert pic.shape == (240, 480 + 8 + 8 + 232 * 3, 3)
    # --photo: the real photograph that ships with matplotlib (512×600 → 205×240), one face
    module.main([str(out), '--photo', 'matplotlib'])
    assert '1 faces; wrote' in capsys.readouterr().out
    assert cv2.imread(str(out)).shape == (240, 205 + 8 + 8 + 232, 3)
    with pytest.raises(FileNotFoundError, match='cannot read the photo'):
        module.main([str(out), '--photo', str(tmp_path / 'missing.jpg')])
