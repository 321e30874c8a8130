"""FERInferencer: detect → align → classify, batched across images and video frames.

    from mmfer.apis import FERInferencer
    fer = FERInferencer('configs/dan/dan_r18_rafdb.py', 'dan_rafdb.pth', detector='retinaface')
    results = fer(['a.jpg', 'photos/'], out_dir='out')        # one dict per image
    for r in fer('clip.mp4', stream=True):                     # or 'webcam:0'
        print(r['frame_index'], [f['pred_class'] for f in r['faces']])

Steps (docs/inference.md has the details and the measured throughput):

1. **Detect** each image / frame with a detector of :mod:`mmfer.apis.face_detection`
   (``'retinaface'`` default, ``'haar'``, ``'whole_image'`` or a callable).
2. **Align** each face (:mod:`mmfer.apis.face_align`): with 5 landmarks a similarity warp onto
   a RAF-DB-like template at the model's input size, else a square box crop with a margin; a
   ``'whole_image'`` input is resized as a whole (as :func:`mmfer.apis.inference_model` does).
3. **Classify** the crops of *many* images together: crops wait in a queue and go through the
   model's own test pipeline (its file-loading step dropped), its data preprocessor and
   ``model(..., mode='predict')`` in chunks of exactly ``batch_size`` (the last chunk of a run
   may be smaller). A frame's result is handed out as soon as all its faces are classified,
   and at most ``batch_size`` frames wait, so a stream has bounded latency and memory.

Results, one dict per image / frame, in input order::

    {'source': 'a.jpg',             # path, 'array:<i>' or 'webcam:<id>'
     'frame_index': 12,             # videos / webcams only
     'img_shape': [H, W],
     'faces': [{'bbox': [x1, y1, x2, y2], 'det_score': float,
                'landmarks': [[x, y] * 5] or None,
                'pred_label': int, 'pred_class': str or None, 'pred_score': float,
                'pred_scores': [float] * C}, ...]}   # [] when no face is found

No face found gives ``'faces': []`` for that image: never an exception, never a whole-image
guess. Class names come from the checkpoint meta (:func:`mmfer.apis.init_model`), else from the
dataset classes of the config's test dataset.
"""
import collections
import json
import os
import os.path as osp
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from mmfer.apis.face_align import box_crop, similarity_warp
from mmfer.apis.face_detection import Detections, WholeImageDetector, build_detector
from mmfer.apis.inference import _image_pipeline, check_image, init_model

__all__ = ['FERInferencer', 'model_input_size', 'pipeline_input_size', 'config_classes', 'draw_faces']

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.pgm', '.ppm')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv', '.flv')


def pipeline_input_size(pipeline) -> Optional[Tuple[int, int]]:
    """(H, W) a test pipeline feeds the model: its last ``CenterCrop`` (``crop_size`` /
    torchvision ``size``) or ``Resize`` (mmcv ``scale`` is W×H, torchvision ``size`` H×W);
    ``None`` when it has neither. Shared by :func:`model_input_size` and
    ``tools/analysis/benchmark.py --shape config``."""
    for t in reversed(list(pipeline or [])):
        kind = str(t.get('type'))
        size = None
        if kind.endswith('CenterCrop'):
            size, hw = t.get('crop_size', t.get('size')), True
        elif kind == 'Resize' or kind.endswith('/Resize'):
            size, hw = (t.get('scale'), False) if kind == 'Resize' else (t.get('size'), True)
        if size is None:
            continue
        if isinstance(size, int):
            return size, size
        return (int(size[0]), int(size[1])) if hw else (int(size[1]), int(size[0]))
    return None


def model_input_size(model) -> Tuple[int, int]:
    """(H, W) the model is fed at test time: :func:`pipeline_input_size` of its test pipeline,
    else the ``img_size`` of the config's test dataset (SynthFER renders at that size). Raises
    ``ValueError`` asking for ``input_size=`` when neither says."""
    size = pipeline_input_size(getattr(model, 'test_pipeline', None))
    if size is not None:
        return size
    cfg = getattr(model, 'cfg', None)
    loader = (cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}) if cfg else {}
    img_size = (loader.get('dataset') or {}).get('img_size')
    if img_size:
        return (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    raise ValueError('cannot tell the model input size: its test pipeline has no Resize / '
                     'CenterCrop and the test dataset no img_size; pass input_size=(H, W)')


def config_classes(cfg) -> Optional[List[str]]:
    """Class names of the config's test dataset: its ``classes`` / ``metainfo['classes']``
    option, else the dataset class's ``METAINFO['classes']``; ``None`` when unknown."""
    if cfg is None:
        return None
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    ds = dict(loader.get('dataset') or {})
    while 'dataset' in ds and 'classes' not in ds:  # wrappers (LabelNoiseDataset ...)
        ds = dict(ds['dataset'])
    spec = ds.get('classes') or (ds.get('metainfo') or {}).get('classes')
    if spec:
        from mmfer.datasets.class_maps import resolve_classes
        return list(resolve_classes(spec, canonical=False))
    from mmfer.registry import DATASETS
    try:
        cls = DATASETS.get(ds.get('type')) if ds.get('type') else None
    except KeyError:
        cls = None
    names = getattr(cls, 'METAINFO', {}).get('classes') if cls is not None else None
    return list(names) if names else None


# kind: 'image' (value: path or array) | 'video' (value: path or camera id)
_Source = collections.namedtuple('_Source', 'kind value name')


def _expand(inputs) -> List[_Source]:
    """Inputs → sources, checked before anything runs (a wrong path fails at once)."""
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not items:
        raise ValueError('FERInferencer: the input list is empty')
    out = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            out.append(_Source('image', check_image(item, i), f'array:{i}'))
            continue
        if not isinstance(item, (str, Path)):
            check_image(item, i)  # raises the TypeError that says how to convert
        item = os.fspath(item)
        if item == 'webcam' or item.startswith('webcam:'):
            cam = item.partition(':')[2] or '0'
            if not cam.isdigit():
                raise ValueError(f"FERInferencer: input {item!r}: use 'webcam:ID' with an "
                                 "integer camera index, e.g. 'webcam:0'")
            out.append(_Source('video', int(cam), f'webcam:{cam}'))
        elif osp.isdir(item):
            files = sorted(osp.relpath(osp.join(d, f), item) for d, _, fs in os.walk(item)
                           for f in fs if f.lower().endswith(IMAGE_EXTS))
            if not files:
                raise FileNotFoundError(f'FERInferencer: folder {item} holds no image '
                                        f'({", ".join(IMAGE_EXTS)})')
            out += [_Source('image', osp.join(item, f), f) for f in files]
        elif not osp.exists(item):
            raise FileNotFoundError(f'FERInferencer: input {i}: {item} does not exist '
                                    f'(working directory {os.getcwd()})')
        elif item.lower().endswith(VIDEO_EXTS):
            out.append(_Source('video', item, osp.basename(item)))
        else:
            out.append(_Source('image', item, osp.basename(item)))
    return out


def _read(path: str) -> np.ndarray:
    import cv2
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'FERInferencer: {path} cannot be decoded by OpenCV (not an image, '
                         'truncated, or an unsupported format; videos need one of the '
                         f'extensions {", ".join(VIDEO_EXTS)})')
    return img


def _open_video(src: _Source):
    import cv2
    cap = cv2.VideoCapture(src.value)
    if not cap.isOpened():
        what = (f'camera {src.value} cannot be opened (is one attached? try another ID)'
                if isinstance(src.value, int) else
                f'{src.value} cannot be opened as a video by OpenCV (not a video, truncated, '
                'or a codec its FFmpeg lacks)')
        raise ValueError(f'FERInferencer: {what}')
    return cap


class _Pending:
    __slots__ = ('record', 'img', 'todo', 'source', 'crops')

    def __init__(self, record, img, todo, source, crops):
        self.record, self.img, self.todo, self.source, self.crops = (record, img, todo, source,
                                                                     crops)


class FERInferencer:
    """Facial expressions of every face in images, folders, videos and webcams.

    Args:
        model: a config path / :class:`mmengine.Config` (built with :func:`init_model`), or a
            model returned by :func:`mmfer.apis.init_model`.
        weights: checkpoint path (with a config); ``None`` keeps constructor weights.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ...
        detector: ``'retinaface'`` (default; needs the ``infer`` extra), ``'haar'``,
            ``'whole_image'`` or a callable (:mod:`mmfer.apis.face_detection`).
        align: ``'auto'`` — similarity warp when the detector gives 5 landmarks, square box
            crop otherwise; ``'box'`` — always the box crop.
        batch_size: faces per classifier forward (crops of several images / frames together).
        input_size: (H, W) of the crops (an int: square); default :func:`model_input_size`.
        margin: box-crop margin (side = (1 + margin) · max(w, h)); see
            :mod:`mmfer.apis.face_align`.
        template: 5×2 template in units of the crop side (default ``RAFDB_TEMPLATE``).
        detector_cfg: keyword arguments of the detector (e.g. ``score_threshold``).
        cfg_options: ``--cfg-options``-style overrides of the config.
        onnx: an ``.onnx`` file written by ``tools/deployment/pytorch2onnx.py``
            (:func:`mmfer.apis.onnx_model.export_onnx`) to run as the classifier with
            onnxruntime (needs the ``onnx`` extra) instead of the PyTorch model. ``model`` is
            then ``None`` (the file's metadata gives the test pipeline, the class names and the
            input size) or a config path / Config (used where the file has no metadata); no
            PyTorch model is built and ``weights`` must be ``None`` (the file holds them).
        channels_last: conv weights in ``torch.channels_last`` (same predictions, faster
            convolutions; :mod:`mmfer.utils.performance`). Default True; ignored with ``onnx``.
        compile: ``torch.compile`` the classifier forward (True, a mode such as ``'freeze'`` —
            inductor freezing, the fastest on a CPU, docs/performance.md — or a dict of
            torch.compile arguments). The first batch compiles (tens of seconds on a CPU) and every new
            batch size compiles again, so it pays off only for long runs at a fixed batch
            size. Default False.
        amp: ``'bf16'`` (CPU or GPU) or ``'fp16'`` (GPU, CPU with native fp16) autocast of
            the forward; the scores are returned as float32. Default None (fp32). Not with
            ``onnx`` (the exported graph is fp32).
    """

    def __init__(self, model, weights: Optional[str] = None, device: str = 'cpu',
                 detector: Union[str, Callable] = 'retinaface', align: str = 'auto',
                 batch_size: int = 32, input_size: Union[int, Sequence[int], None] = None,
                 margin: float = 0.2, template: Optional[np.ndarray] = None,
                 detector_cfg: Optional[dict] = None, cfg_options: Optional[dict] = None,
                 onnx: Optional[str] = None, channels_last: bool = True,
                 compile: Union[bool, dict] = False, amp: Optional[str] = None):
        from mmfer.utils.performance import check_amp
        self.onnx = None
        self.amp = check_amp(str(device).split(':')[0], amp)
        self.device_type = str(device).split(':')[0]
        if onnx is not None and (compile or self.amp):
            raise ValueError('FERInferencer: compile= and amp= apply to the PyTorch model; an '
                             'ONNX graph (onnx=) runs in fp32 as exported')
        if onnx is not None:
            self.model, self.onnx = _onnx_model(model, weights, onnx, device, cfg_options)
            if input_size is None:
                input_size = self.onnx.input_size
        elif model is None:
            raise ValueError('FERInferencer: model is None; pass a config path, a model from '
                             'init_model, or onnx=FILE')
        elif isinstance(model, torch.nn.Module):
            if not hasattr(model, 'test_pipeline'):
                raise AttributeError('FERInferencer needs a config path or a model from '
                                     'mmfer.apis.init_model (it sets model.test_pipeline)')
            if weights is not None:
                raise ValueError('weights= is for a config path; this model is already built '
                                 '(load its checkpoint with init_model)')
            self.model = model.eval()
        else:
            self.model = init_model(model, weights, device, cfg_options)
        if align not in ('auto', 'box'):
            raise ValueError(f"align must be 'auto' or 'box', got {align!r}")
        if int(batch_size) < 1:
            raise ValueError(f'batch_size must be ≥ 1, got {batch_size}')
        self.align, self.batch_size, self.margin, self.template = (align, int(batch_size),
                                                                   margin, template)
        if input_size is None:
            input_size = model_input_size(self.model)
        elif isinstance(input_size, int):
            input_size = (input_size, input_size)
        elif len(input_size) == 1:
            input_size = (input_size[0], input_size[0])
        self.input_size = tuple(int(v) for v in input_size)
        if (self.onnx is not None and self.onnx.input_size
                and self.input_size != tuple(self.onnx.input_size)):
            raise ValueError(f'input_size={self.input_size}: the ONNX graph {onnx} takes '
                             f'{tuple(self.onnx.input_size)} inputs; export it again with '
                             '--shape H W to change it')
        self.classes = (list(self.model.classes) if getattr(self.model, 'classes', None)
                        else config_classes(getattr(self.model, 'cfg', None)))
        self.pipeline = _image_pipeline(self.model.test_pipeline)
        self._forward = self.model
        if self.onnx is None:
            from mmfer.utils.performance import compile_cfg_of, compile_model, to_channels_last
            if channels_last:
                to_channels_last(self.model)
            if compile:
                kw = compile_cfg_of(compile)
                self._forward = compile_model(self.model, **(kw if isinstance(kw, dict) else {}))
        self.detector = build_detector(detector, device=str(device), **(detector_cfg or {}))

    # -- the three steps, usable on their own ------------------------------------------------
    def detect(self, img: np.ndarray) -> Detections:
        """Faces of one BGR uint8 image (see :mod:`mmfer.apis.face_detection`)."""
        return self.detector(img)

    def crop_faces(self, img: np.ndarray, det: Detections) -> List[np.ndarray]:
        """One input-size BGR crop per detected face (see the module docstring, step 2)."""
        crops = []
        for k in range(len(det.boxes)):
            if isinstance(self.detector, WholeImageDetector):
                crop, _ = box_crop(img, det.boxes[k], self.input_size, margin=0.0, square=False)
            elif self.align == 'auto' and det.landmarks is not None:
                crop, _ = similarity_warp(img, det.landmarks[k], self.input_size, self.template)
            else:
                crop, _ = box_crop(img, det.boxes[k], self.input_size, margin=self.margin)
            crops.append(crop)
        return crops

    @torch.no_grad()
    def classify(self, crops: Sequence[np.ndarray]) -> List[dict]:
        """One forward of ``crops`` (BGR uint8, input size) through the model's test pipeline,
        data preprocessor and predict mode: ``pred_label``, ``pred_class``, ``pred_score``,
        ``pred_scores`` per crop."""
        if not len(crops):
            return []
        packed = [self.pipeline(dict(img=c, img_shape=c.shape[:2], ori_shape=c.shape[:2]))
                  for c in crops]
        if self.onnx is not None:
            from mmfer.apis.onnx_model import softmax
            probs = softmax(self.onnx(torch.stack([p['inputs'] for p in packed]).float()))
            return [dict(pred_label=int(s.argmax()),
                         pred_class=self.classes[int(s.argmax())] if self.classes else None,
                         pred_score=float(s.max()), pred_scores=s.tolist()) for s in probs]
        data = self.model.data_preprocessor(
            dict(inputs=[p['inputs'] for p in packed],
                 data_samples=[p['data_samples'] for p in packed]), False)
        from mmfer.utils.performance import autocast_context
        with autocast_context(self.device_type, self.amp):
            preds = self._forward(**data, mode='predict')
        out = []
        for p in preds:
            scores = p.pred_score.float().cpu()
            label = int(p.pred_label)
            out.append(dict(pred_label=label,
                            pred_class=self.classes[label] if self.classes else None,
                            pred_score=float(scores[label]), pred_scores=scores.tolist()))
        return out

    # -- running over inputs -----------------------------------------------------------------
    def __call__(self, inputs, batch_size: Optional[int] = None, stream: bool = False,
                 out_dir: Optional[str] = None, save_crops: bool = False,
                 max_frames: Optional[int] = None):
        """Run on ``inputs``: a path (image, folder of images, video file), ``'webcam:ID'``, a
        BGR uint8 array, or a list of these.

        ``stream=False`` returns the list of results (one per image / frame); ``stream=True``
        returns a generator yielding them as they are ready (needed for webcams).
        ``out_dir``: annotated images under ``out_dir/vis/``, one annotated ``<name>.mp4`` per
        video, predictions as JSON (``predictions.json`` for the images, ``<name>.json`` per
        video; both written as the results come, so a long video never sits in memory);
        ``save_crops`` adds the aligned crops under ``out_dir/crops/``. ``max_frames`` stops each
        video / webcam after that many frames.
        """
        sources = _expand(inputs)
        if not stream and max_frames is None and any(isinstance(s.value, int) for s in sources):
            raise ValueError('a webcam never ends: call with stream=True and iterate, or give '
                             'max_frames')
        gen = self._run(sources, batch_size or self.batch_size, out_dir, save_crops, max_frames)
        return gen if stream else list(gen)

    def _frames(self, sources, max_frames) -> Iterator[Tuple[_Source, Optional[int], np.ndarray]]:
        for src in sources:
            if src.kind == 'image':
                img = src.value if isinstance(src.value, np.ndarray) else _read(src.value)
                yield src, None, img
                continue
            cap = _open_video(src)
            try:
                index = 0
                while max_frames is None or index < max_frames:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    yield src, index, frame
                    index += 1
            finally:
                cap.release()

    def _run(self, sources, batch_size, out_dir, save_crops, max_frames) -> Iterator[dict]:
        writer = _Writer(out_dir, save_crops) if out_dir else None
        pending = collections.deque()
        queue = []  # (pending entry, face index, crop)

        def flush(n):
            chunk, queue[:] = queue[:n], queue[n:]
            for (entry, k, _), pred in zip(chunk, self.classify([c for _, _, c in chunk])):
                entry.record['faces'][k].update(pred)
                entry.todo -= 1

        try:
            for src, index, img in self._frames(sources, max_frames):
                det = self.detect(img)
                crops = self.crop_faces(img, det)
                faces = [dict(bbox=[float(v) for v in det.boxes[k]],
                              det_score=float(det.scores[k]),
                              landmarks=(det.landmarks[k].tolist() if det.landmarks is not None
                                         else None)) for k in range(len(det.boxes))]
                record = dict(source=src.value if isinstance(src.value, str) else src.name,
                              img_shape=list(img.shape[:2]), faces=faces)
                if index is not None:
                    record['frame_index'] = index
                entry = _Pending(record, img if writer else None, len(crops), src,
                                 crops if (writer and save_crops) else None)
                pending.append(entry)
                queue.extend((entry, k, c) for k, c in enumerate(crops))
                while len(queue) >= batch_size:
                    flush(batch_size)
                if len(pending) > batch_size:  # bound the frames that wait for a full batch
                    while queue:
                        flush(batch_size)
                while pending and pending[0].todo == 0:
                    done = pending.popleft()
                    if writer:
                        writer.write(done)
                    yield done.record
            while queue:
                flush(batch_size)
            while pending:
                done = pending.popleft()
                if writer:
                    writer.write(done)
                yield done.record
        finally:
            if writer:
                writer.close()


def _onnx_model(model, weights, path, device, cfg_options):
    """(what FERInferencer reads of a model, OnnxClassifier) for ``onnx=path``."""
    import types

    from mmfer.apis.builder import load_model_config
    from mmfer.apis.onnx_model import OnnxClassifier
    if weights is not None:
        raise ValueError('weights= goes with a PyTorch model; an ONNX file holds its weights '
                         '(export a checkpoint with tools/deployment/pytorch2onnx.py)')
    if isinstance(model, torch.nn.Module):
        raise ValueError('onnx=: pass model=None or the config path, not a built model')
    session = OnnxClassifier(path, device=str(device))
    cfg = load_model_config(model, cfg_options) if model is not None else None
    pipeline = session.test_pipeline
    if pipeline is None and cfg is not None:
        pipeline = ((cfg.get('test_dataloader') or {}).get('dataset') or {}).get('pipeline')
    if pipeline is None:
        raise ValueError(f'{path} carries no test pipeline in its metadata (not written by '
                         'tools/deployment/pytorch2onnx.py?); pass the config as model=')
    classes = session.classes or config_classes(cfg)
    info = types.SimpleNamespace(cfg=cfg, test_pipeline=pipeline, classes=classes)
    return info, session


def _label(face) -> str:
    name = face.get('pred_class')
    name = name if name is not None else str(face.get('pred_label'))
    return f'{name} {face.get("pred_score", 0):.2f}'


def draw_faces(img: np.ndarray, faces: Sequence[dict]) -> np.ndarray:
    """A copy of ``img`` with each face's box, 5 landmarks and ``class score`` drawn."""
    import cv2
    out = img.copy()
    thick = max(1, round(max(img.shape[:2]) / 300))
    for face in faces:
        x1, y1, x2, y2 = [int(round(v)) for v in face['bbox']]
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), thick)
        for x, y in face.get('landmarks') or []:
            cv2.circle(out, (int(round(x)), int(round(y))), thick + 1, (0, 0, 255), -1)
        scale = max(0.35, (x2 - x1) / 250)
        text = _label(face)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = max(th + base, y1)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw, ty), (0, 255, 0), -1)
        cv2.putText(out, text, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    thick, cv2.LINE_AA)
    return out


class _JSONArray:
    """A JSON list written one element at a time (valid JSON once closed)."""

    def __init__(self, path):
        self.f = open(path, 'w', encoding='utf-8')
        self.f.write('[')
        self.n = 0

    def add(self, obj):
        self.f.write((',\n' if self.n else '\n') + json.dumps(obj))
        self.n += 1

    def close(self):
        self.f.write('\n]\n')
        self.f.close()


class _Writer:
    """out_dir: vis/ (annotated images), <video>.mp4 + <video>.json, predictions.json, crops/."""

    def __init__(self, out_dir, save_crops):
        self.out_dir, self.save_crops = out_dir, save_crops
        os.makedirs(out_dir, exist_ok=True)
        self.images_json = None
        self.videos = {}  # source name → (VideoWriter, _JSONArray)
        self.used = set()

    def _unique(self, rel):
        stem, ext = osp.splitext(rel)
        name, n = rel, 1
        while name in self.used:
            name, n = f'{stem}_{n}{ext}', n + 1
        self.used.add(name)
        return name

    def write(self, entry):
        import cv2
        src, rec = entry.source, entry.record
        vis = draw_faces(entry.img, rec['faces'])
        if src.kind == 'image':
            rel = src.name.replace(':', '_')
            if not rel.lower().endswith(IMAGE_EXTS):
                rel += '.png'
            rel = self._unique(rel)
            path = osp.join(self.out_dir, 'vis', rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            if not cv2.imwrite(path, vis):
                raise OSError(f'FERInferencer: cannot write {path}')
            if self.images_json is None:
                self.images_json = _JSONArray(osp.join(self.out_dir, 'predictions.json'))
            self.images_json.add(dict(rec, vis=osp.join('vis', rel)))
            stem = osp.splitext(rel)[0]
        else:
            key = src.name
            if key not in self.videos:
                stem = self._unique(osp.splitext(key.replace(':', '_'))[0])
                fps = 25.0
                if isinstance(src.value, str):
                    cap = cv2.VideoCapture(src.value)
                    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
                    cap.release()
                h, w = vis.shape[:2]
                path = osp.join(self.out_dir, stem + '.mp4')
                vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
                if not vw.isOpened():
                    raise OSError(f'FERInferencer: cannot open a video writer for {path}')
                self.videos[key] = (vw, _JSONArray(osp.join(self.out_dir, stem + '.json')), stem)
            vw, js, stem = self.videos[key]
            vw.write(vis)
            js.add(rec)
            stem = f'{stem}_{rec["frame_index"]:06d}'
        if self.save_crops and entry.crops:
            os.makedirs(osp.join(self.out_dir, 'crops'), exist_ok=True)
            for k, crop in enumerate(entry.crops):
                cv2.imwrite(osp.join(self.out_dir, 'crops',
                                     f'{stem.replace(os.sep, "__")}_face{k}.png'), crop)

    def close(self):
        if self.images_json is not None:
            self.images_json.close()
        for vw, js, _ in self.videos.values():
            vw.release()
            js.close()
        self.images_json, self.videos = None, {}
