"""LandmarkHead + LandmarkLoss + LandmarkNME: hand-computed values, the shipped config."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample

from mmfer.apis import build_model
from mmfer.evaluation.landmark_metric import LandmarkNME, nme
from mmfer.registry import MODELS

pytestmark = pytest.mark.usefixtures('one_thread')


def sample(landmarks=None):
    ds = DataSample()
    if landmarks is not None:
        ds.set_field(landmarks, 'landmarks')
    return ds


def test_head_loss_and_prediction_units():
    head = MODELS.build(dict(type='LandmarkHead', num_landmarks=2, in_channels=4, input_size=10))
    assert isinstance(head.fc, torch.nn.Identity)
    feat = torch.tensor([[0.1, 0.2, 0.5, 0.5]])          # (1, 2), (5, 5) pixels at size 10
    gt = np.array([[[2., 2.], [5., 7.]]], np.float32)     # |d| = 0.1, 0, 0, 0.2 (normalised)
    ds = [sample(gt[0])]
    losses = head.loss(dict(feat=feat), ds)
    assert losses['loss_landmark'].item() == pytest.approx(0.075, abs=1e-7)
    out = head.predict(dict(feat=feat), ds)
    assert torch.allclose(out[0].pred_landmarks, torch.tensor([[1., 2.], [5., 5.]]))
    l2 = MODELS.build(dict(type='LandmarkLoss', mode='l2'))
    value = l2(dict(landmarks_pred=head(dict(feat=feat)), landmark_scale=head.scale),
               dict(landmarks=torch.from_numpy(gt)))
    assert value.item() == pytest.approx((0.1 + 0.2) / 2, abs=1e-7)
    with pytest.raises(ValueError, match='num_landmarks'):
        head.loss(dict(feat=feat), [sample(np.zeros((3, 2)))])
    with pytest.raises(KeyError, match='landmarks'):
        head.loss(dict(feat=feat), [sample()])


def test_nme_hand_case_and_metric():
    gt = np.zeros((1, 68, 2))
    gt[0, 45] = (10., 0.)                                 # inter-ocular distance 10
    pred = gt.copy()
    pred[0, 0] += (3., 4.)                                # one point 5 px off: mean 5/68
    assert nme(pred, gt)[0] == pytest.approx(5 / 68 / 10)
    metric = LandmarkNME(failure_threshold=0.005)
    metric.process(None, [dict(pred_landmarks=torch.from_numpy(pred[0]), landmarks=gt[0]),
                          dict(pred_landmarks=torch.from_numpy(gt[0]), landmarks=gt[0])])
    res = metric.compute_metrics(metric.results)
    assert res['nme'] == pytest.approx(100 * 5 / 68 / 10 / 2)
    assert res['failure_rate'] == pytest.approx(50.0)
    with pytest.raises(ValueError, match='inter-ocular'):
        nme(gt, np.zeros((1, 68, 2)))


def test_shipped_config_builds_and_regresses():
    cfg = Config.fromfile('configs/landmarks/mobilefacenet_synthfer.py')
    torch.manual_seed(0)
    model = build_model(cfg)
    # half-width MobileFaceNet-136 (the published width has 1,007,248 parameters)
    assert sum(p.numel() for p in model.parameters()) == 290_768
    x = torch.randn(2, 3, 112, 112)
    model.eval()
    assert model(x).shape == (2, 68, 2)
    assert cfg.default_hooks.checkpoint.save_best == 'landmark/nme'
