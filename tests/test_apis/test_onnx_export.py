"""ONNX export of each shipped method's inference network: onnxruntime ≡ PyTorch (≤ 1e-4).

Every config is built with random constructor weights (``build_model``, no checkpoint, no
``init_weights``) and exported at its test input size; logits of onnxruntime and of PyTorch's
own path (``model.data_preprocessor`` → ``model(..., mode='tensor')``) are compared on random
pixels and on SynthFER test faces, at batch 1 and 3 (the batch axis is dynamic; the export
traced batch 2). Needs the ``onnx`` extra (onnx, onnxscript, onnxruntime).
"""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from tool_loader import load_tool as load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MISSING = [m for m in ('onnx', 'onnxscript', 'onnxruntime') if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=f'{", ".join(MISSING)} not installed (the `onnx` '
                       'extra: pip install -e ".[onnx]"; make install installs it)'),
    pytest.mark.usefixtures('one_thread')]

TOL = 1e-4
# (config, input size, model class): the tiny / small SynthFER config of each shipped method
METHODS = {
    'baseline': ('tests/data/configs/tiny_synthfer.py', 32, 'FERClassifier'),
    'dan': ('configs/dan/dan_r18_synthfer.py', 64, 'FERClassifier'),
    'qcs_base': ('configs/qcs/poster_base_synthfer.py', 64, 'FERClassifier'),
    'pcda': ('configs/pcda/pcda_ir50_synthfer.py', 64, 'FERClassifier'),
    'lan': ('configs/lan/lan_r18_synthfer.py', 64, 'FERClassifier'),
    'dacfer': ('configs/dacfer/dacfer_se50_synthfer.py', 64, 'MultiViewClassifier'),
}


def load_tool():
    return load_script('tools/deployment/pytorch2onnx.py')


@pytest.mark.parametrize('method', list(METHODS))
def test_export_parity(method, tmp_path):
    import onnx

    from mmfer.apis import InferenceNetwork, OnnxClassifier, export_onnx, init_model
    from mmfer.apis.fer_inferencer import model_input_size
    config, size, kind = METHODS[method]
    torch.manual_seed(0)
    model = init_model(osp.join(ROOT, config))  # constructor weights, eval mode
    assert type(model).__name__ == kind
    assert model_input_size(model) == (size, size)
    out = export_onnx(model, str(tmp_path / f'{method}.onnx'), (size, size))
    assert osp.isfile(out) and not list(tmp_path.glob('*.data'))  # one file
    proto = onnx.load(out)
    onnx.checker.check_model(proto, full_check=True)
    (inp, ), (logits, ) = proto.graph.input, proto.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [3, size, size]  # dynamic batch
    assert inp.name == 'input' and logits.name == 'logits'
    if kind == 'MultiViewClassifier':
        # DacFER exports inference_model(): the graph's weights are those of the base network
        # (backbone, neck, head, normalisation); folding may merge tensors, never add a module
        from onnx import numpy_helper
        init = sum(numpy_helper.to_array(t).size for t in proto.graph.initializer)
        base = model.inference_model()
        n_params = sum(p.numel() for p in base.parameters())
        n_all = n_params + sum(b.numel() for b in base.buffers())
        assert 0.9 * n_params < init <= n_all + 64, (init, n_params, n_all)

    tool = load_tool()
    session = OnnxClassifier(out, threads=1)
    assert session.input_size == (size, size)
    rng = np.random.default_rng(0)
    random = rng.uniform(0, 255, (3, 3, size, size)).astype(np.float32)
    real = tool.real_inputs(model, (size, size), 3, seed=0)
    for x in (random, real):
        ref = tool.torch_logits(model, x)
        assert ref.shape == (3, model.num_classes)
        assert ref.std(0).max() > 1e-4  # the inputs give different logits: a real comparison
        for got in (session(x), np.concatenate([session(x[i:i + 1]) for i in range(3)])):
            assert got.shape == ref.shape
            assert np.abs(got - ref).max() <= TOL, (method, np.abs(got - ref).max())
        # the graph is the network with the normalisation: the PyTorch wrapper agrees exactly
        with torch.no_grad():
            wrapped = InferenceNetwork(model)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(wrapped, ref, atol=1e-6, rtol=0)
    # predict's scores are the softmax of the exported logits
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=torch.from_numpy(real)), False)
        preds = model(data['inputs'], mode='predict')
    from mmfer.apis.onnx_model import softmax
    probs = softmax(session(real))
    for p, q in zip(preds, probs):
        assert int(p.pred_label) == int(q.argmax())
        np.testing.assert_allclose(p.pred_score.numpy(), q, atol=1e-5)


def test_metadata_and_size_check(tmp_path):
    from mmfer.apis import OnnxClassifier, export_onnx, init_model
    model = init_model(osp.join(ROOT, METHODS['baseline'][0]))
    model.classes = list('abcdefg')
    out = export_onnx(model, str(tmp_path / 'm.onnx'), (32, 32))
    session = OnnxClassifier(out)
    assert session.classes == list('abcdefg')
    assert session.test_pipeline == [dict(type='PackInputs')]
    with pytest.raises(ValueError, match='takes 32×32 inputs, got 40×40'):
        session(np.zeros((1, 3, 40, 40), np.float32))
    with pytest.raises(FileNotFoundError, match='pytorch2onnx.py'):
        OnnxClassifier(str(tmp_path / 'missing.onnx'))
