"""Landmark metrics: normalised mean error (NME) and failure rate."""
from typing import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmfer.registry import METRICS

# iBUG-68 outer eye corners (0-based): the inter-ocular distance of 300-W / WFLW-style NME
IBUG68_OUTER_EYE_CORNERS = (36, 45)


def nme(pred: np.ndarray, gt: np.ndarray, eyes=IBUG68_OUTER_EYE_CORNERS) -> np.ndarray:
    """Per-sample NME: mean_l ‖p_l − g_l‖ / ‖g_{e0} − g_{e1}‖ for arrays N×L×2 → (N,)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f'nme: prediction {pred.shape} and ground truth {gt.shape} must both be '
                         'N×L×2')
    iod = np.linalg.norm(gt[:, eyes[0]] - gt[:, eyes[1]], axis=-1)
    if np.any(iod <= 0):
        raise ValueError('nme: a sample has zero inter-ocular distance (landmarks '
                         f'{eyes[0]} and {eyes[1]} coincide); check the landmark order')
    return np.linalg.norm(pred - gt, axis=-1).mean(axis=1) / iod


@METRICS.register_module()
class LandmarkNME(BaseMetric):
    """NME (percent of the inter-ocular distance, iBUG-68 outer eye corners) over the whole
    evaluation set, and the failure rate (share of samples with NME > ``failure_threshold``).

    Reads ``pred_landmarks`` (written by ``LandmarkHead.predict``) and the data-sample field
    ``landmarks`` (pack it with ``PackInputs(algorithm_keys=['landmarks'])``). Keys:
    ``landmark/nme``, ``landmark/failure_rate`` (percent).
    """

    default_prefix = 'landmark'

    def __init__(self, failure_threshold: float = 0.10, eye_corners=IBUG68_OUTER_EYE_CORNERS,
                 collect_device: str = 'cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.failure_threshold = float(failure_threshold)
        self.eye_corners = tuple(eye_corners)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            if 'pred_landmarks' not in ds or 'landmarks' not in ds:
                raise KeyError('LandmarkNME needs pred_landmarks (a LandmarkHead model) and the '
                               "data field landmarks (PackInputs(algorithm_keys=['landmarks']))")
            self.results.append((np.asarray(ds['pred_landmarks'].cpu()),
                                 np.asarray(ds['landmarks'])))

    def compute_metrics(self, results: list) -> dict:
        pred = np.stack([r[0] for r in results])
        gt = np.stack([r[1] for r in results])
        errors = nme(pred, gt, self.eye_corners)
        return dict(nme=float(errors.mean() * 100),
                    failure_rate=float((errors > self.failure_threshold).mean() * 100))
