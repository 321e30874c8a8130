"""tools/analysis/vis_tsne.py: feat extraction equals extract_feat, t-SNE separates separable
classes, the k-NN figure is right on a hand case, and the tool runs as a subprocess."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from tool_loader import load_tool as load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
TOOL = osp.join(ROOT, 'tools', 'analysis', 'vis_tsne.py')
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec('sklearn') is None,
                       reason='scikit-learn not installed (the `vis` extra: pip install -e '
                       '".[vis]"; make install installs it)'),
    pytest.mark.usefixtures('one_thread')]


def load_tool():
    return load_script(TOOL)


def test_knn_accuracy_hand_case():
    tool = load_tool()
    pts = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [0.5, 5]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    # k=1: the last point's nearest neighbour is class 0 → 5 of 6 right
    assert tool.knn_accuracy(pts, labels, k=1) == pytest.approx(5 / 6)


def test_tsne_separates_blobs():
    tool = load_tool()
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (3, 20))
    feats = np.concatenate([c + rng.normal(0, 1, (20, 20)) for c in centres])
    labels = np.repeat([0, 1, 2], 20)
    pts = tool.embed(feats, perplexity=10, max_iter=300, seed=0)
    assert pts.shape == (60, 2) and pts.dtype == np.float32
    assert tool.knn_accuracy(pts, labels) == 1.0
    np.testing.assert_array_equal(pts, tool.embed(feats, perplexity=10, max_iter=300, seed=0))
    with pytest.raises(ValueError, match='must be below the number of samples'):
        tool.embed(feats[:10], perplexity=30)


def test_features_are_extract_feat():
    from mmfer.apis import init_model
    tool = load_tool()
    torch.manual_seed(0)
    model = init_model(CFG)
    loader = dict(model.cfg.test_dataloader, batch_size=4)
    feats, labels, preds = tool.extract_features(model, loader, max_samples=6)
    assert feats.shape == (6, 64) and labels.shape == preds.shape == (6, )
    from mmengine.runner import Runner
    data = next(iter(Runner.build_dataloader(loader)))
    with torch.no_grad():
        data = model.data_preprocessor(data, False)
        ref = model.extract_feat(data['inputs'])['feat'].numpy()
        logits = model(data['inputs'], mode='tensor').numpy()
    np.testing.assert_allclose(feats[:4], ref, atol=1e-6)
    np.testing.assert_array_equal(preds[:4], logits.argmax(1))
    np.testing.assert_array_equal(labels[:4], [int(s.gt_label) for s in data['data_samples']])


def test_vis_tsne_subprocess(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    proc = subprocess.run([sys.executable, TOOL, CFG, 'none', '--out-dir', str(tmp_path),
                           '--perplexity', '5', '--max-iter', '250', '--batch-size', '8'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pts = np.load(tmp_path / 'tsne_points.npy')
    r = json.loads((tmp_path / 'tsne_points.json').read_text())
    assert pts.shape == (16, 2) and r['num_samples'] == 16 and r['feat_dim'] == 64
    np.testing.assert_allclose(np.array(r['points']), pts, atol=1e-6)
    from mmfer.datasets import SynthFER
    ds = SynthFER(split='test', num_samples=16, img_size=32, pipeline=[])
    assert r['labels'] == [int(v) for v in ds.get_gt_labels()]
    assert r['classes'] == list(SynthFER.METAINFO['classes'])
    assert 0 <= r['knn5_accuracy_2d'] <= 1 and 0 <= r['knn5_accuracy_feat'] <= 1
    import cv2
    assert cv2.imread(str(tmp_path / 'tsne.png')).shape[:2] == (660, 780)
