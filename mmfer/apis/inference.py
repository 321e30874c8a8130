"""Inference helpers: build a model from a config + checkpoint and classify images.

The checkpoint's ``meta`` (written by :class:`mmfer.engine.hooks.RunInfoHook`) holds the class
names in training order and the test pipeline, so predictions are always named with the order
the model was trained with — never with whatever order a dataset class happens to use.
"""
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmfer.registry import MODELS, TRANSFORMS
from mmfer.utils.checkpoint import load_checkpoint, safe_torch_load


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               device: str = 'cpu', cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the model of ``config`` and load ``checkpoint`` strictly.

    Sets ``model.cfg``, ``model.classes`` (from the checkpoint meta when present, else from
    the config's test dataset metainfo is unknown → ``None``) and ``model.test_pipeline``.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmfer'))
    model = MODELS.build(cfg.model)
    classes, pipeline = None, None
    if checkpoint is not None:
        ckpt = safe_torch_load(checkpoint)
        load_checkpoint(model, ckpt, ignore_missing=[r'^head\.losses\.'])
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


@torch.no_grad()
def inference_model(model: torch.nn.Module,
                    images: Union[np.ndarray, str, List[Union[np.ndarray, str]]]) -> List[dict]:
    """Classify images (BGR uint8 arrays as read by OpenCV, or file paths).

    Returns one dict per image: ``pred_label`` (int), ``pred_class`` (name, when the
    checkpoint carries class names), ``pred_score`` (float) and ``scores`` (C floats).
    """
    import cv2
    single = not isinstance(images, list)
    images = [images] if single else images
    pipeline = _image_pipeline(model.test_pipeline)
    batch = []
    for img in images:
        if isinstance(img, str):
            arr = cv2.imread(img, cv2.IMREAD_COLOR)
            if arr is None:
                raise FileNotFoundError(f'cannot read image {img}: missing or not an image')
            img = arr
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
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
