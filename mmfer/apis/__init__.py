"""Inference and model-building API.

``build_model`` is the one way mmfer builds a model from a config (as mmengine's Runner does);
``init_model`` / ``inference_model`` classify images with a trained checkpoint.
"""
from .builder import build_model, load_model_config, model_config
from .inference import check_image, inference_model, init_model

__all__ = ['build_model', 'load_model_config', 'model_config', 'init_model', 'inference_model',
           'check_image']
