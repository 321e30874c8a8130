"""tools/deployment/pytorch2onnx.py as a subprocess on the tiny config: export, checker,
parity on random and SynthFER inputs, --validate on the 16-image test split, and exit 1 when a
difference exceeds --tolerance."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
TOOL = osp.join(ROOT, 'tools', 'deployment', 'pytorch2onnx.py')
MISSING = [m for m in ('onnx', 'onnxscript', 'onnxruntime') if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f'{", ".join(MISSING)} not installed '
                                '(the `onnx` extra: pip install -e ".[onnx]"; make install '
                                'installs it)')


def run(*args):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    from mmengine.config import Config

    from mmfer.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CFG).model)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(classes=list('abcdefg'))), path)
    return str(path)


def test_export_validate(tmp_path, ckpt):
    out, js = tmp_path / 'tiny.onnx', tmp_path / 'r.json'
    proc = run(CFG, ckpt, '--out', out, '--validate', '--json', js, '--num-real', 4)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(js.read_text())
    assert r['passed'] and r['checker'] == 'passed' and r['input_size'] == [32, 32]
    assert r['random_max_abs_diff'] <= 1e-4 and r['real_max_abs_diff'] <= 1e-4
    v = r['validate']
    assert v['num_images'] == 16 and v['batch_size'] == 16
    assert v['agreement'] == 1.0 and v['torch_accuracy'] == v['onnx_accuracy']
    assert v['max_abs_diff'] <= 1e-4 and v['torch_ms_per_img'] > 0 and v['onnx_ms_per_img'] > 0
    assert 'onnx.checker: passed' in proc.stdout and 'PyTorch' in proc.stdout
    assert 'onnxruntime' in proc.stdout and 'parity within 0.0001: passed' in proc.stdout
    from mmfer.apis import OnnxClassifier
    assert OnnxClassifier(str(out)).classes == list('abcdefg')  # the checkpoint's names


def test_tolerance_fails(tmp_path, capsys, one_thread):
    """A negative tolerance no difference can meet: main() returns 1 (the exit status) and says
    why. In-process (the subprocess path is covered above), to save an interpreter start."""
    spec = importlib.util.spec_from_file_location('pytorch2onnx', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rc = tool.main([CFG, 'none', '--out', str(tmp_path / 'm.onnx'), '--num-random', '1',
                    '--num-real', '0', '--tolerance', '-1'])
    assert rc == 1
    assert 'FAILED: logit difference above --tolerance -1 on random inputs' in \
        capsys.readouterr().err
