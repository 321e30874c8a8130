"""ONNX export of an mmfer classifier's inference network, and an onnxruntime runner for it.

The exported graph is what :meth:`FERClassifier.forward` computes in ``mode='tensor'`` *plus*
the data preprocessor's normalisation, so a deployed file needs nothing from mmfer::

    input  'input'   N×3×H×W float32, pixel values 0..255 in the channel order the test pipeline
                     packs (BGR: ``cv2.imread`` / ``PackInputs``), N dynamic, H×W fixed
    graph            [BGR→RGB flip if the preprocessor has to_rgb] → (x − mean) / std →
                     backbone [+ aux nets that run at inference] → neck → head
    output 'logits'  N×C float32 (softmax them for the scores ``predict`` gives)

A :class:`~mmfer.models.classifiers.MultiViewClassifier` (QCS, DacFER) exports its
:meth:`inference_model` — the base network; training-only branches are not in the graph.
The preprocessor's ``pad_size_divisor`` padding is not exported (an export with a divisor > 1
and an input size it does not divide is refused).

The file's ``metadata_props`` carry what inference needs besides the graph: ``mmfer.classes``
(JSON list or ``null``), ``mmfer.test_pipeline`` (JSON) and ``mmfer.input_size`` ([H, W]);
:class:`OnnxClassifier` reads them (``FERInferencer(onnx=...)`` uses it).

Export goes through torch 2.14's ``torch.onnx.export(..., dynamo=True)`` (torch.export +
onnxscript), weights inside the one ``.onnx`` file (``external_data=False``).
"""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

__all__ = ['InferenceNetwork', 'export_onnx', 'OnnxClassifier', 'check_onnx_available',
           'softmax']

ONNX_EXTRA = 'pip install -e ".[onnx]"  (onnx, onnxscript, onnxruntime; `make install` does it)'


def check_onnx_available(runtime_only: bool = False) -> None:
    """Raise an ``ImportError`` naming the ``onnx`` extra when a package it brings is missing."""
    mods = ['onnxruntime'] if runtime_only else ['onnx', 'onnxscript', 'onnxruntime']
    for mod in mods:
        try:
            __import__(mod)
        except ImportError as e:
            raise ImportError(f'{mod} is not installed; ONNX export / inference needs the onnx '
                              f'extra: {ONNX_EXTRA}') from e


class InferenceNetwork(nn.Module):
    """The deployable network of an mmfer classifier: raw pixels → logits.

    ``forward(x)``: ``x`` N×3×H×W float, 0..255, channel order as packed by the test pipeline
    (BGR) → N×C logits, i.e. ``model(model.data_preprocessor(x)['inputs'], mode='tensor')``.
    The modules are shared with ``model`` (no copy); the wrapper is put in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        pre = model.data_preprocessor
        net = model.inference_model() if hasattr(model, 'inference_model') else model
        self.net = net
        self.to_rgb = bool(getattr(pre, 'to_rgb', False))
        self.pad_size_divisor = int(getattr(pre, 'pad_size_divisor', 1) or 1)
        if getattr(pre, '_enable_normalize', False):
            self.register_buffer('mean', pre.mean.detach().clone().float().view(1, -1, 1, 1))
            self.register_buffer('std', pre.std.detach().clone().float().view(1, -1, 1, 1))
        else:
            self.mean = self.std = None
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.to_rgb:
            x = x.flip(1)
        x = x.float()
        if self.mean is not None:
            x = (x - self.mean) / self.std
        out = self.net(x, mode='tensor')
        if isinstance(out, dict):  # a head whose tensor mode returns named outputs
            out = out['logits']
        return out


def _metadata(model, input_size) -> dict:
    classes = getattr(model, 'classes', None)
    pipeline = getattr(model, 'test_pipeline', None)
    if pipeline is None and getattr(model, 'cfg', None) is not None:
        loader = model.cfg.get('test_dataloader') or {}
        pipeline = (loader.get('dataset') or {}).get('pipeline')
    if classes is None and getattr(model, 'cfg', None) is not None:
        from mmfer.apis.fer_inferencer import config_classes
        classes = config_classes(model.cfg)

    def plain(obj):
        if isinstance(obj, dict):
            return {str(k): plain(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        return obj
    return {'mmfer.classes': json.dumps(list(classes) if classes else None),
            'mmfer.test_pipeline': json.dumps(plain(list(pipeline)) if pipeline else None),
            'mmfer.input_size': json.dumps([int(input_size[0]), int(input_size[1])])}


def export_onnx(model: nn.Module, out_file: str, input_size: Sequence[int],
                opset: int = 18, batch_size: int = 2, check: bool = True) -> str:
    """Export ``InferenceNetwork(model)`` to ``out_file`` (one file, dynamic batch axis).

    Args:
        model: an mmfer classifier (e.g. from :func:`mmfer.apis.init_model` or
            :func:`mmfer.apis.build_model`); its ``classes`` / ``test_pipeline`` / ``cfg``
            attributes, when present, go into the file's metadata.
        out_file: the ``.onnx`` path (its folder is created).
        input_size: (H, W) of the graph input.
        opset: ONNX opset of the default domain.
        batch_size: batch of the example input traced (the exported batch axis is dynamic).
        check: run ``onnx.checker.check_model(full_check=True)`` on the written file.

    Returns ``out_file``.
    """
    check_onnx_available()
    import onnx
    h, w = int(input_size[0]), int(input_size[1])
    net = InferenceNetwork(model)
    if net.pad_size_divisor > 1 and (h % net.pad_size_divisor or w % net.pad_size_divisor):
        raise ValueError(f'the data preprocessor pads to a multiple of {net.pad_size_divisor}, '
                         f'which the ONNX graph does not do; export at a size it divides, not '
                         f'{h}×{w}')
    dummy = torch.rand(batch_size, 3, h, w) * 255
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    batch = torch.export.Dim('batch', min=1, max=4096)
    with torch.no_grad():
        program = torch.onnx.export(net, (dummy, ), dynamo=True, input_names=['input'],
                                    output_names=['logits'], opset_version=opset,
                                    dynamic_shapes={'x': {0: batch}}, external_data=False,
                                    verbose=False)
    proto = program.model_proto
    for key, value in _metadata(model, (h, w)).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, out_file, save_as_external_data=False)
    if check:
        onnx.checker.check_model(out_file, full_check=True)
    return out_file


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class OnnxClassifier:
    """An exported mmfer network run by onnxruntime.

    ``OnnxClassifier(path)(x)``: ``x`` N×3×H×W (numpy or tensor, 0..255, BGR as packed by the
    test pipeline) → N×C float32 logits. ``classes``, ``test_pipeline`` and ``input_size`` come
    from the file's metadata (``None`` when the file has none, e.g. not written by
    :func:`export_onnx`).

    Args:
        path: the ``.onnx`` file.
        device: ``'cpu'`` or ``'cuda[:i]'`` (CUDAExecutionProvider, needs onnxruntime-gpu).
        threads: intra-op threads (``None``: as many as ``torch.get_num_threads()``).
    """

    def __init__(self, path: str, device: str = 'cpu', threads: Optional[int] = None):
        check_onnx_available(runtime_only=True)
        import onnxruntime as ort
        if not osp.isfile(path):
            raise FileNotFoundError(f'ONNX file not found: {path}; export one with '
                                    'tools/deployment/pytorch2onnx.py CONFIG CKPT --out FILE')
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        providers = ['CPUExecutionProvider']
        if str(device).startswith('cuda'):
            if 'CUDAExecutionProvider' not in ort.get_available_providers():
                raise RuntimeError(f'device={device!r}: this onnxruntime has no '
                                   'CUDAExecutionProvider (install onnxruntime-gpu instead of '
                                   'onnxruntime)')
            index = str(device).partition(':')[2] or '0'
            providers = [('CUDAExecutionProvider', dict(device_id=int(index)))] + providers
        self.path = path
        self.session = ort.InferenceSession(path, sess_options=opts, providers=providers)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        meta = self.session.get_modelmeta().custom_metadata_map

        def read(key):
            return json.loads(meta[key]) if key in meta else None
        self.classes: Optional[List[str]] = read('mmfer.classes')
        self.test_pipeline = read('mmfer.test_pipeline')
        size = read('mmfer.input_size')
        if size is None and all(isinstance(d, int) for d in inp.shape[2:]):
            size = list(inp.shape[2:])
        self.input_size: Optional[Tuple[int, int]] = tuple(size) if size else None

    def __call__(self, x: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f'OnnxClassifier: expected N×3×H×W, got {x.shape}')
        if self.input_size and tuple(x.shape[2:]) != tuple(self.input_size):
            raise ValueError(f'OnnxClassifier: {self.path} takes {self.input_size[0]}×'
                             f'{self.input_size[1]} inputs, got {x.shape[2]}×{x.shape[3]}')
        return self.session.run(None, {self.input_name: x})[0]
