"""Inference and model-building API.

``build_model`` is the one way mmfer builds a model from a config (as mmengine's Runner does);
``init_model`` / ``inference_model`` classify pre-cropped face images with a trained checkpoint;
``FERInferencer`` detects, aligns and classifies every face of images, folders, videos and
webcams, batched (docs/inference.md); ``export_onnx`` / ``OnnxClassifier`` write and run the
ONNX file of a model's inference network (``FERInferencer(onnx=...)`` runs one).
"""
from .builder import build_model, load_model_config, model_config
from .face_align import RAFDB_TEMPLATE, box_crop, similarity_matrix, similarity_warp
from .face_detection import (CallableDetector, Detections, HaarDetector, RetinaFaceDetector,
                             WholeImageDetector, build_detector)
from .fer_inferencer import FERInferencer, draw_faces, model_input_size
from .inference import check_image, inference_model, init_model
from .onnx_model import InferenceNetwork, OnnxClassifier, export_onnx

__all__ = ['build_model', 'load_model_config', 'model_config', 'init_model', 'inference_model',
           'check_image', 'FERInferencer', 'model_input_size', 'draw_faces', 'build_detector',
           'Detections', 'WholeImageDetector', 'HaarDetector', 'RetinaFaceDetector',
           'CallableDetector', 'RAFDB_TEMPLATE', 'similarity_matrix', 'similarity_warp',
           'box_crop', 'InferenceNetwork', 'export_onnx', 'OnnxClassifier']
