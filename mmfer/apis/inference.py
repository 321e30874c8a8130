"""Inference helpers: build a model from a config + checkpoint and classify images.

    from mmfer.apis import init_model, inference_model
    model = init_model('configs/dan/dan_r18_rafdb.py', 'work_dirs/dan/best.pth')
    inference_model(model, 'face.jpg')   # or a BGR uint8 array, or a list of either

The checkpoint's ``meta`` (written by :class:`mmfer.engine.hooks.RunInfoHook`) holds the class
names in training order and the test pipeline, so predictions are always named with the order
the model was trained with — never with whatever order a dataset class happens to use.

Accepted images (:func:`check_image` states the rules and the messages): a path of a file that
OpenCV decodes, or a ``numpy.uint8`` array in OpenCV's layout — H×W×3 BGR (as ``cv2.imread``
returns), H×W or H×W×1 grayscale (replicated to 3 channels) or H×W×4 BGRA (the alpha channel is
dropped, not composited). Float arrays, other integer types, tensors, PIL images and batched
N×H×W×C arrays are refused with the conversion to apply, never silently rescaled.
"""
import os
import os.path as osp
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose

from mmfer.apis.builder import build_model, load_model_config
from mmfer.registry import TRANSFORMS
from mmfer.utils.checkpoint import LOSS_STATE_KEYS, load_checkpoint, safe_torch_load

__all__ = ['init_model', 'inference_model', 'check_image']

ImageType = Union[np.ndarray, str, Path]


def init_model(config: Union[str, Path, Config], checkpoint: Optional[str] = None,
               device: str = 'cpu', cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the model of ``config`` (:func:`mmfer.apis.build_model`: the top-level
    ``data_preprocessor`` merged in as mmengine's Runner does) and load ``checkpoint`` strictly.

    Sets ``model.cfg``, ``model.classes`` (the class names of the checkpoint meta; ``None``
    without a checkpoint or when it carries none) and ``model.test_pipeline`` (the checkpoint's
    ``input_cfg.test_pipeline`` when present, else the config's test dataloader pipeline).
    Returns the model in eval mode on ``device``.
    """
    cfg = load_model_config(config, cfg_options)
    model = build_model(cfg)
    classes, pipeline = None, None
    if checkpoint is not None:
        ckpt = safe_torch_load(checkpoint)
        load_checkpoint(model, ckpt, ignore_missing=[LOSS_STATE_KEYS], source=str(checkpoint))
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        classes = meta.get('classes') or (meta.get('dataset_meta') or {}).get('classes')
        pipeline = (meta.get('input_cfg') or {}).get('test_pipeline')
    if pipeline is None:
        test = cfg.get('test_dataloader') or {}
        pipeline = test.get('dataset', {}).get('pipeline', [dict(type='PackInputs')])
    model.cfg = cfg
    model.classes = list(classes) if classes is not None else None
    model.test_pipeline = pipeline
    return model.to(device).eval()


def _image_pipeline(pipeline: Sequence[dict]) -> Compose:
    """The test pipeline without its file-loading step (images are given in memory)."""
    steps = [t for t in pipeline if not str(t['type']).startswith('Load')]
    return Compose([TRANSFORMS.build(t) for t in steps])


_DTYPE_FIXES = {
    'f': ('a float array is ambiguous (0..1 or 0..255?) and is never rescaled silently; convert '
          'it yourself: floats in 0..1 → (img * 255).round().clip(0, 255).astype(np.uint8), '
          'floats in 0..255 → img.round().clip(0, 255).astype(np.uint8)'),
    'u': ('for 16-bit images (e.g. cv2.imread(path, cv2.IMREAD_UNCHANGED) of a 16-bit PNG) '
          'convert with (img // 257).astype(np.uint8); for other values in 0..255 use '
          'img.astype(np.uint8)'),
    'i': 'for values in 0..255 convert with img.astype(np.uint8)',
    'b': 'a boolean mask is not an image; for a 0/255 image use img.astype(np.uint8) * 255',
}


def check_image(img, index: int = 0) -> np.ndarray:
    """Validate one in-memory image and return it as a contiguous H×W×3 uint8 BGR array.

    Rules (OpenCV's layout, what ``cv2.imread`` returns):

    ============================  ===========================================================
    input                         result
    ============================  ===========================================================
    uint8 H×W×3                   used as is (BGR)
    uint8 H×W or H×W×1            grayscale, replicated to 3 channels
    uint8 H×W×4                   BGRA: the alpha channel is dropped (not composited)
    float / other dtypes          ``TypeError`` naming the dtype, value range and conversion
    not a numpy array             ``TypeError`` (torch tensors and PIL images: how to convert)
    other shapes (N×H×W×C, H×W×2) ``ValueError`` naming the shape
    empty (H or W = 0)            ``ValueError``
    ============================  ===========================================================

    ``index`` is the image's position in the list given to :func:`inference_model`, for the
    messages.
    """
    where = f'inference_model: image {index}'
    if not isinstance(img, np.ndarray):
        hint = ''
        if isinstance(img, torch.Tensor):
            hint = (' For a C×H×W RGB tensor in 0..255 use '
                    'img.permute(1, 2, 0).flip(-1).byte().numpy().')
        elif type(img).__module__.startswith('PIL'):
            hint = ' For a PIL image use np.asarray(img.convert("RGB"))[:, :, ::-1].'
        raise TypeError(f'{where} is a {type(img).__module__}.{type(img).__name__}; pass a file '
                        f'path or a numpy uint8 array in BGR order (as cv2.imread returns).{hint}')
    if img.dtype != np.uint8:
        fix = _DTYPE_FIXES.get(img.dtype.kind, 'convert it to np.uint8 BGR 0..255')
        rng = ''
        if img.size and img.dtype.kind in 'fuib':
            lo, hi = img.min().item(), img.max().item()
            rng = (f', values {lo:.4g}..{hi:.4g}' if img.dtype.kind == 'f'
                   else f', values {lo}..{hi}')
        raise TypeError(f'{where} has dtype {img.dtype}{rng}: inference_model expects uint8 '
                        f'0..255 BGR (as cv2.imread returns) — {fix}.')
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]  # BGRA (cv2.IMREAD_UNCHANGED of a PNG with alpha) → BGR
    elif img.ndim != 3 or img.shape[2] != 3:
        extra = (' (a batch? pass a list of H×W×3 images instead)' if img.ndim == 4 else '')
        raise ValueError(f'{where} has shape {tuple(img.shape)}{extra}: expected H×W×3 (BGR), '
                         'H×W×4 (BGRA, alpha dropped) or H×W / H×W×1 (grayscale)')
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f'{where} is empty (shape {tuple(img.shape)})')
    return np.ascontiguousarray(img)


def _read_image(path: Union[str, Path], index: int) -> np.ndarray:
    import cv2
    path = os.fspath(path)
    if not osp.exists(path):
        raise FileNotFoundError(f'inference_model: image {index}: {path} does not exist '
                                f'(working directory {os.getcwd()})')
    if osp.isdir(path):
        raise IsADirectoryError(f'inference_model: image {index}: {path} is a directory; pass '
                                'image files (e.g. sorted(glob.glob(DIR + "/*.jpg")))')
    img = cv2.imread(path, cv2.IMREAD_COLOR)  # 3-channel BGR; grayscale / alpha handled by cv2
    if img is None:
        raise ValueError(f'inference_model: image {index}: {path} cannot be decoded by OpenCV '
                         '(not an image, truncated, or an unsupported format); re-save it as '
                         'PNG or JPEG')
    return img


@torch.no_grad()
def inference_model(model: torch.nn.Module,
                    images: Union[ImageType, Sequence[ImageType]]) -> List[dict]:
    """Classify images: file paths, or uint8 arrays in OpenCV's BGR layout (:func:`check_image`
    lists what is accepted and what is refused with which message).

    ``model`` comes from :func:`init_model` (it carries ``test_pipeline`` and ``classes``).
    Returns one dict per image, in input order: ``pred_label`` (int), ``pred_class`` (name,
    when the checkpoint carries class names, else ``None``), ``pred_score`` (float, the softmax
    probability of ``pred_label``) and ``scores`` (C floats summing to 1). A single image
    (not a list) gives a list of one dict.
    """
    if not hasattr(model, 'test_pipeline'):
        raise AttributeError('inference_model needs a model from mmfer.apis.init_model (it sets '
                             'model.test_pipeline and model.classes)')
    if isinstance(images, (list, tuple)):
        images = list(images)
        if not images:
            raise ValueError('inference_model: the image list is empty')
    else:
        images = [images]
    pipeline = _image_pipeline(model.test_pipeline)
    batch = []
    for i, img in enumerate(images):
        img = _read_image(img, i) if isinstance(img, (str, Path)) else check_image(img, i)
        batch.append(pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])))
    data = model.data_preprocessor(
        dict(inputs=[b['inputs'] for b in batch], data_samples=[b['data_samples'] for b in batch]),
        False)
    preds = model(**data, mode='predict')
    out = []
    for p in preds:
        label = int(p.pred_label)
        out.append(dict(pred_label=label, pred_score=float(p.pred_score[label]),
                        scores=p.pred_score.tolist(),
                        pred_class=model.classes[label] if model.classes else None))
    return out
