"""A malicious checkpoint is refused by every entry point that loads a file, with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set (torch's switch that makes a bare ``torch.load``
unsafe); damaged files get mmfer's message naming the path; trusted files can be re-saved.

The payload is a pickle whose ``__reduce__`` is ``open(marker, 'w')``: loading it unsafely
creates the marker file. A control test shows that it does with a bare ``torch.load``.
"""
import importlib.util
import os
import os.path as osp
import pickle
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch

import mmfer  # noqa: F401  (registers mmfer's loaders)
from mmfer.utils.checkpoint import (CheckpointError, CheckpointNotFoundError,
                                    CorruptCheckpointError, UnsafeCheckpointError,
                                    load_checkpoint, restricted_torch_load, safe_torch_load)

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
REFUSED = "which is not on mmfer's allow-list"


class _Payload:
    """Unpickling this calls ``open(path, 'w')``: the marker file appears."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture
def unsafe_env(monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    monkeypatch.delenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', raising=False)


@pytest.fixture
def evil(tmp_path):
    """(checkpoint path, marker path): a training-checkpoint-shaped file with a payload."""
    marker = tmp_path / 'marker_created_by_payload'
    path = tmp_path / 'evil.pth'
    torch.save({'meta': {'epoch': 1, 'iter': 4}, 'state_dict': OrderedDict(w=torch.zeros(2)),
                'message_hub': {}, 'x': _Payload(str(marker))}, path)
    assert not marker.exists()
    return str(path), marker


def _tool(rel):
    spec = importlib.util.spec_from_file_location(
        'mmfer_tool_' + rel.replace('/', '_')[:-3], osp.join(ROOT, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _refused(fn, path, marker):
    with pytest.raises(UnsafeCheckpointError) as err:
        fn()
    msg = str(err.value)
    assert msg.startswith(path) and 'io.open' in msg, msg
    assert 'resave_weights_only.py' in msg and 'Nothing from the file was executed' in msg
    assert '\\n' not in msg and len(msg.splitlines()) >= 4  # real lines
    assert not marker.exists()
    return msg


def test_payload_is_live_with_bare_torch_load(unsafe_env, evil):
    """Control: the environment variable makes torch's default unsafe, the payload runs."""
    path, marker = evil
    with pytest.warns(UserWarning, match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'):
        torch.load(path)
    assert marker.exists()


def test_explicit_weights_only_wins_over_environment(unsafe_env, evil):
    path, marker = evil
    with pytest.raises(pickle.UnpicklingError, match='GLOBAL io.open'):
        torch.load(path, weights_only=True)
    assert not marker.exists()


def test_safe_torch_load_message(unsafe_env, evil):
    path, marker = evil
    msg = _refused(lambda: safe_torch_load(path), path, marker)
    assert f'the Python global `io.open`, {REFUSED}' in msg
    assert 'weights_only=False' in msg  # says why torch's advice does not apply


@pytest.mark.parametrize('scheme', ['mmengine_load_checkpoint', 'init_cfg_pretrained'])
def test_mmengine_loads_are_safe(unsafe_env, evil, scheme):
    from mmengine.runner.checkpoint import CheckpointLoader, load_checkpoint as mm_load
    path, marker = evil
    assert CheckpointLoader._get_checkpoint_loader(path).__name__ == 'load_from_mmfer_safe_local'
    if scheme == 'mmengine_load_checkpoint':
        _refused(lambda: mm_load(torch.nn.Linear(2, 2), path), path, marker)
    else:
        from mmengine.model import BaseModule

        class M(BaseModule):
            def __init__(self):
                super().__init__(init_cfg=dict(type='Pretrained', checkpoint=path))
                self.fc = torch.nn.Linear(2, 2)
        _refused(lambda: M().init_weights(), path, marker)


def test_remote_schemes_are_forced_weights_only(unsafe_env, evil, monkeypatch):
    """mmengine's remote loaders call a bare torch.load: mmfer's wrapper forces weights-only."""
    from mmengine.runner import checkpoint as mm_ckpt
    path, marker = evil
    loader = mm_ckpt.CheckpointLoader._get_checkpoint_loader('https://example.org/x.pth')
    assert getattr(loader, '_mmfer_weights_only', False)
    # stand in for the download: mmengine's load_url ends in a bare torch.load of the file
    monkeypatch.setattr(mm_ckpt, 'load_url', lambda url, **kw: torch.load(path))
    with pytest.raises(UnsafeCheckpointError, match=REFUSED):
        loader('https://example.org/x.pth')
    assert not marker.exists()
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'  # restored afterwards


def _train_argv(tmp_path, *extra):
    return [TINY, '--work-dir', str(tmp_path / 'work'), *extra]


@pytest.mark.parametrize('entry', ['resume_ckpt', 'auto_resume', 'load_from',
                                   'model_pretrained', 'backbone_init_cfg'])
def test_train_entry_points_refuse(unsafe_env, evil, tmp_path, entry):
    path, marker = evil
    train = _tool('tools/train.py')
    if entry == 'resume_ckpt':
        argv = _train_argv(tmp_path, '--resume', path)
    elif entry == 'auto_resume':
        os.makedirs(tmp_path / 'work')
        (tmp_path / 'work' / 'last_checkpoint').write_text(path)
        argv = _train_argv(tmp_path, '--resume')
    elif entry == 'load_from':
        argv = _train_argv(tmp_path, '--cfg-options', f'load_from={path}')
    elif entry == 'model_pretrained':
        argv = _train_argv(tmp_path, '--cfg-options', f'model.pretrained={path}')
    else:
        argv = _train_argv(tmp_path, '--cfg-options', 'model.backbone.init_cfg.type=Pretrained',
                           f'model.backbone.init_cfg.checkpoint={path}')
    _refused(lambda: train.main(argv), path, marker)


def test_resume_refused_in_a_real_process(evil, tmp_path):
    """The CLI as users run it: a fresh process with the environment variable set."""
    path, marker = evil
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1', OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, 'tools/train.py', *_train_argv(tmp_path, '--resume',
                                                                        path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert f'UnsafeCheckpointError: {path}: refused to load' in proc.stderr
    assert not marker.exists()


def test_test_tool_refuses(unsafe_env, evil, tmp_path):
    path, marker = evil
    test = _tool('tools/test.py')
    _refused(lambda: test.main([TINY, path, '--work-dir', str(tmp_path / 'w')]), path, marker)


def test_init_model_and_pretrained_refuse(unsafe_env, evil):
    from mmengine.config import Config

    from mmfer.apis import init_model
    from mmfer.models.backbones.ir50 import IResNet
    path, marker = evil
    _refused(lambda: init_model(TINY, path), path, marker)
    cfg = Config.fromfile(TINY)
    cfg.model.pretrained = path
    from mmfer.registry import MODELS
    _refused(lambda: MODELS.build(cfg.model).init_weights(), path, marker)
    ir = IResNet(depth=50, num_stages=1, out_indices=(0, ), base_channels=8, pretrained=path)
    _refused(ir.init_weights, path, marker)


@pytest.mark.parametrize('tool,args', [
    ('dan_to_mmfer.py', ['--dataset', 'rafdb']),
    ('ir50_to_mmfer.py', []),
    ('qcs_to_mmfer.py', ['--dataset', 'rafdb']),
    ('resnet18_msceleb_to_mmfer.py', []),
])
def test_converters_refuse(unsafe_env, evil, tmp_path, tool, args):
    path, marker = evil
    conv = _tool(f'tools/model_converters/{tool}')
    out = tmp_path / 'out.pth'
    msg = _refused(lambda: conv.main([path, str(out), *args]), path, marker)
    assert 'refused to' in msg
    assert not out.exists()


def test_analysis_tools_refuse(unsafe_env, evil, tmp_path):
    path, marker = evil
    vis = _tool('tools/analysis/vis_attention.py')
    _refused(lambda: vis.main([TINY, path, '--synthfer', '2', '--synthfer-size', '32',
                               '--out', str(tmp_path / 'a.png')]), path, marker)
    cm = _tool('tools/analysis/confusion_matrix.py')
    preds = tmp_path / 'preds.pkl'
    with open(preds, 'wb') as f:
        pickle.dump([{'gt_label': torch.tensor([0]), 'pred_label': torch.tensor([1])}], f)
    _refused(lambda: cm.main([str(preds), '--out', str(tmp_path / 'cm.png'),
                              '--checkpoint', path]), path, marker)
    # the prediction dump itself goes through the restricted unpickler
    evil_pkl = tmp_path / 'evil.pkl'
    evil_pkl.write_bytes(pickle.dumps([_Payload(str(marker))]))
    with pytest.raises(UnsafeCheckpointError, match='refused to unpickle global io.open'):
        cm.main([str(evil_pkl), '--out', str(tmp_path / 'cm.png')])
    assert not marker.exists()


def test_resave_weights_only_converts_a_trusted_file(unsafe_env, tmp_path):
    """A whole pickled nn.Module plus a payload: the tool keeps the weights, runs nothing."""
    marker = tmp_path / 'marker'
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    src = tmp_path / 'whole_model.pth'
    torch.save({'model': model, 'epoch': 7, 'x': _Payload(str(marker))}, src)
    with pytest.raises(UnsafeCheckpointError, match='torch.nn.modules.container.Sequential'):
        safe_torch_load(str(src))
    resave = _tool('tools/model_converters/resave_weights_only.py')
    dst = tmp_path / 'weights.pth'
    info = resave.resave(str(src), str(dst))
    assert not marker.exists()
    assert info['dropped'] == ['x (io.open)']
    out = safe_torch_load(str(dst))
    assert out['epoch'] == 7
    assert list(out['model']) == list(model.state_dict())  # 7 entries, same order
    for k, v in model.state_dict().items():
        assert torch.equal(out['model'][k], v)
    fresh = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    load_checkpoint(fresh, out['model'])
    assert torch.equal(fresh[0].weight, model[0].weight)


@pytest.mark.parametrize('kind', ['text', 'truncated', 'empty'])
def test_damaged_files_name_the_path(tmp_path, kind):
    path = tmp_path / f'{kind}.pth'
    if kind == 'text':
        path.write_text('<html>404 Not Found</html>\n')
    elif kind == 'truncated':
        torch.save({'state_dict': {'w': torch.zeros(1000)}}, path)
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    else:
        path.write_bytes(b'')
    for fn in (safe_torch_load, restricted_torch_load):
        with pytest.raises(CorruptCheckpointError) as err:
            fn(str(path))
        msg = str(err.value)
        assert msg.startswith(f'{path}: not a readable PyTorch checkpoint')
        assert 'truncated' in msg and 'Fix:' in msg and len(msg.splitlines()) == 3
        assert 'weights_only' not in msg  # torch's "re-run with weights_only=False" is not shown


def test_missing_file_and_no_state_dict(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match='checkpoint file not found: .*nope.pth'):
        safe_torch_load(str(tmp_path / 'nope.pth'))
    path = tmp_path / 'list.pth'
    torch.save([1, 2], path)
    with pytest.raises(CheckpointError, match=r'list.pth: no state dict found .*top level: list'):
        load_checkpoint(torch.nn.Linear(1, 1), str(path))
