"""Face alignment for :class:`mmfer.apis.FERInferencer`: detected face → model-sized crop.

Two ways, both one ``cv2.warpAffine`` of the original image (no intermediate resize):

* :func:`similarity_warp` — with 5 landmarks (image-left eye centre, image-right eye centre,
  nose tip, image-left mouth corner, image-right mouth corner; RetinaFace's order), the
  similarity transform (rotation, uniform scale, translation; 4 degrees of freedom) that maps
  them closest, in least squares, onto :data:`RAFDB_TEMPLATE` scaled to the model's input
  size, estimated with ``cv2.estimateAffinePartial2D``.
* :func:`box_crop` — without landmarks, the square of side ``(1 + margin) · max(w, h)`` centred
  on the box, resized to the input size (parts outside the image are black).

Template. RAF-DB's aligned 100×100 images (the crops most FER models here are trained on) are
similarity-aligned on 5 points and looser than face-recognition crops: forehead and chin are
inside, the eyes sit at about 40 % of the height. SynthFER draws its faces at that tightness
(``mmfer.datasets.synthfer_render.geometry.FACE_SCALE``: "as tight as RAF-DB's aligned
crops"); :data:`RAFDB_TEMPLATE` is the mean of SynthFER's 5 points (eye centres = mean of the
6 iBUG eye points, nose tip = point 30, mouth corners = points 48 / 54) over the 230 of the
first 400 training faces (seed 0) with |yaw| < 15°, made left-right symmetric and rounded:

=================  =========  =========
point              x / side   y / side
=================  =========  =========
left eye centre    0.340      0.395
right eye centre   0.660      0.395
nose tip           0.500      0.585
left mouth corner  0.350      0.725
right mouth corner 0.650      0.725
=================  =========  =========

For comparison the ArcFace 112×112 template (insightface) puts the eyes at y = 0.46 and the
mouth at 0.82 with an eye distance of 0.31: a tighter crop that cuts the forehead, which FER
models trained on RAF-DB-style crops have not seen. Pass ``template=`` to use another one.

The box-crop margin default (0.2) is chosen to match: on a frontal face (checked on the
matplotlib sample photograph and on rendered SynthFER faces), Haar and RetinaFace boxes are
about 2.6 eye distances wide, and 1.2 × that gives the template's eye distance of 0.32 of the
side.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ['RAFDB_TEMPLATE', 'similarity_matrix', 'similarity_warp', 'box_matrix', 'box_crop',
           'warp']

#: 5-point template in units of the crop side (x, y), see the module docstring.
RAFDB_TEMPLATE = np.array([[0.340, 0.395], [0.660, 0.395], [0.500, 0.585],
                           [0.350, 0.725], [0.650, 0.725]], np.float64)


def _size_hw(size) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def similarity_matrix(landmarks: np.ndarray, size, template: Optional[np.ndarray] = None
                      ) -> np.ndarray:
    """2×3 similarity matrix M mapping image points onto ``template`` · (W, H).

    ``landmarks``: (5, 2) pixel (x, y) in the template's point order. Least squares over the 5
    points (``cv2.estimateAffinePartial2D`` with a reprojection threshold no point exceeds, so
    every point is an inlier and its Levenberg–Marquardt refinement gives the least-squares
    fit). Raises ``ValueError`` for degenerate landmarks (all points equal, NaN).
    """
    import cv2
    h, w = _size_hw(size)
    tpl = RAFDB_TEMPLATE if template is None else np.asarray(template, np.float64)
    src = np.asarray(landmarks, np.float64).reshape(-1, 2)
    if src.shape != tpl.shape:
        raise ValueError(f'landmarks have shape {src.shape}, the template {tpl.shape}: give one '
                         '(x, y) per template point')
    if not np.isfinite(src).all() or np.ptp(src, axis=0).max() < 1e-6:
        raise ValueError(f'degenerate landmarks {src.tolist()}: cannot estimate a similarity')
    dst = tpl * np.array([w, h], np.float64)
    span = float(np.ptp(np.concatenate([src, dst]), axis=0).max())
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32),
                                       method=cv2.RANSAC, ransacReprojThreshold=100 * span + 1e3,
                                       maxIters=10, refineIters=100)
    if m is None:
        raise ValueError(f'cv2.estimateAffinePartial2D found no similarity for {src.tolist()}')
    return m


def box_matrix(box: Sequence[float], size, margin: float = 0.2, square: bool = True
               ) -> np.ndarray:
    """2×3 matrix (scale + translation) mapping the (optionally squared) box, enlarged by
    ``margin`` on each dimension ((1 + margin) × side, centred), onto the W×H crop."""
    h, w = _size_hw(size)
    x1, y1, x2, y2 = [float(v) for v in box[:4]]
    bw, bh = x2 - x1, y2 - y1
    if not (bw > 0 and bh > 0):
        raise ValueError(f'face box {[x1, y1, x2, y2]} has no area (x2 ≤ x1 or y2 ≤ y1)')
    if square:
        bw = bh = max(bw, bh)
    bw, bh = bw * (1 + margin), bh * (1 + margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    sx, sy = w / bw, h / bh
    return np.array([[sx, 0, w / 2 - sx * cx], [0, sy, h / 2 - sy * cy]], np.float64)


def warp(img: np.ndarray, matrix: np.ndarray, size) -> np.ndarray:
    """``img`` warped by the 2×3 ``matrix`` into an H×W crop (bilinear; outside → black).

    Pixel-centre convention: OpenCV maps pixel indices, so a point at continuous (x, y) lands at
    M·(x, y, 1); the landmark tests check exactly that."""
    import cv2
    h, w = _size_hw(size)
    return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def similarity_warp(img: np.ndarray, landmarks: np.ndarray, size,
                    template: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """(crop H×W×C, 2×3 matrix): ``img`` similarity-aligned on 5 landmarks (see the module)."""
    m = similarity_matrix(landmarks, size, template)
    return warp(img, m, size), m


def box_crop(img: np.ndarray, box: Sequence[float], size, margin: float = 0.2,
             square: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """(crop H×W×C, 2×3 matrix): the square box crop with ``margin`` (see the module)."""
    m = box_matrix(box, size, margin, square)
    return warp(img, m, size), m
