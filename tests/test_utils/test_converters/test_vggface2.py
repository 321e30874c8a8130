"""VGGFace2 ``*_ft_weight.pkl`` → mmfer (backbones.md §4.4): files written in the release format
(a Python-2 pickle of a dict name → numpy array, read with ``encoding='latin1'``), the official
key names, the numpy-only unpickler, and the converted network computing the official function.
"""
import functools
import os
import os.path as osp
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmfer.utils.checkpoint import (CheckpointMismatchError, CorruptCheckpointError,
                                    UnsafeCheckpointError, load_checkpoint, numpy_pickle_load,
                                    safe_torch_load)
from mmfer.utils.converters.vggface2 import (build_backbone, convert_vggface2_checkpoint,
                                             map_key, vggface2_key_list)

pytestmark = pytest.mark.usefixtures('one_thread')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
WIDTH = 16  # stem/base channels of the tiny networks written to files


class Py2Pickler(pickle._Pickler):
    """Writes ``bytes`` as Python 2 ``str`` (SHORT_BINSTRING / BINSTRING), as the released files
    (written by Python 2) hold them; read back with ``encoding='latin1'``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def write_py2_pickle(obj, path):
    with open(path, 'wb') as f:
        Py2Pickler(f, protocol=2).dump({k.encode('latin1'): v for k, v in obj.items()})


def official_file_name(mmfer_key):
    return mmfer_key.replace('.se_layer.conv1.conv.', '.conv4.').replace(
        '.se_layer.conv2.conv.', '.conv5.')


@functools.lru_cache(maxsize=None)
def _official(arch, width, seed):
    g = np.random.default_rng(seed)
    out = {}
    for k, v in build_backbone(arch, width).state_dict().items():
        if k.endswith('num_batches_tracked'):
            continue  # the Caffe conversion has none
        shape = tuple(v.shape)
        arr = g.standard_normal(shape).astype(np.float32) * 0.2
        if k.endswith('running_var'):
            arr = np.abs(arr) + 0.5
        if k.endswith('bn3.weight') or k.endswith('.1.weight'):
            arr = np.abs(arr) + 0.5
        out[official_file_name(k)] = arr
    out['fc.weight'] = g.standard_normal((8631, 8 * width * 4)).astype(np.float32)
    out['fc.bias'] = g.standard_normal(8631).astype(np.float32)
    return out


def official_weights(arch='senet50', width=WIDTH, seed=0):
    return dict(_official(arch, width, seed))


def reference_forward(w, x, se=True):
    """cydonia999/VGGFace2-pytorch ``resnet.py`` / ``senet.py`` forward up to the last map."""
    t = {k: torch.from_numpy(v) for k, v in w.items()}

    def bn(y, p):
        return F.batch_norm(y, t[p + '.running_mean'], t[p + '.running_var'], t[p + '.weight'],
                            t[p + '.bias'], False, 0.0, 1e-5)

    x = F.relu(bn(F.conv2d(x, t['conv1.weight'], stride=2, padding=3), 'bn1'))
    x = F.max_pool2d(x, 3, 2, 0, ceil_mode=True)
    for stage, (blocks, stride) in enumerate(zip((3, 4, 6, 3), (1, 2, 2, 2)), 1):
        for b in range(blocks):
            p, s = f'layer{stage}.{b}', stride if b == 0 else 1
            out = F.relu(bn(F.conv2d(x, t[p + '.conv1.weight'], stride=s), p + '.bn1'))
            out = F.relu(bn(F.conv2d(out, t[p + '.conv2.weight'], padding=1), p + '.bn2'))
            out = bn(F.conv2d(out, t[p + '.conv3.weight']), p + '.bn3')
            if se:
                e = out.mean((2, 3), keepdim=True)
                e = F.relu(F.conv2d(e, t[p + '.conv4.weight'], t[p + '.conv4.bias']))
                out = out * torch.sigmoid(F.conv2d(e, t[p + '.conv5.weight'],
                                                   t[p + '.conv5.bias']))
            sc = x if b else bn(F.conv2d(x, t[p + '.downsample.0.weight'], stride=s),
                                p + '.downsample.1')
            x = F.relu(out + sc)
    return x


def run_main(argv, capsys):
    """The tool's main() in this process; returns what it printed."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'vggface2_to_mmfer', osp.join(ROOT, 'tools/model_converters/vggface2_to_mmfer.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    capsys.readouterr()
    assert tool.main(argv) == 0
    return capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('arch,entries', [('resnet50', 267), ('senet50', 331)])
def test_official_key_names_map_onto_the_full_model(arch, entries):
    """All official names (backbones.md §4.4: 267 / 331 entries with fc, no
    num_batches_tracked) map 1:1 onto the full 50-layer mmfer network's keys."""
    keys = vggface2_key_list(arch)
    assert len(keys) == entries and len(set(keys)) == entries
    own = [k for k in build_backbone(arch).state_dict() if not k.endswith('num_batches_tracked')]
    mapped = [map_key(k) for k in keys if not k.startswith('fc.')]
    assert sorted(mapped) == sorted(own)
    assert len(vggface2_key_list(arch, num_batches_tracked=True)) == entries + 53  # 53 BNs
    if arch == 'senet50':
        assert map_key('layer3.5.conv4.bias') == 'layer3.5.se_layer.conv1.conv.bias'
        assert map_key('layer1.0.conv5.weight') == 'layer1.0.se_layer.conv2.conv.weight'


def test_numpy_only_unpickler_reads_python2_latin1_file(tmp_path):
    w = {'conv1.weight': np.arange(6, dtype=np.float32).reshape(1, 2, 3),
         'bn1.running_var': np.array([0.5, 2.0], dtype=np.float64)}
    path = tmp_path / 'py2.pkl'
    write_py2_pickle(w, path)
    data = path.read_bytes()  # Python 2 str opcodes, no Python 3 bytes reconstruction
    assert b'U\x0cconv1.weight' in data and b'_codecs' not in data
    loaded = numpy_pickle_load(path)
    assert sorted(loaded) == ['bn1.running_var', 'conv1.weight']
    assert loaded['conv1.weight'].dtype == np.float32
    np.testing.assert_array_equal(loaded['conv1.weight'], w['conv1.weight'])
    np.testing.assert_array_equal(loaded['bn1.running_var'], [0.5, 2.0])
    # a Python-3 protocol-2 pickle of the same dict (bytes via _codecs.encode) reads too
    p3 = tmp_path / 'py3.pkl'
    p3.write_bytes(pickle.dumps(w, protocol=2))
    np.testing.assert_array_equal(numpy_pickle_load(p3)['conv1.weight'], w['conv1.weight'])


class Payload:
    def __reduce__(self):
        return (os.system, ('touch PWNED_vggface2',))


def test_numpy_only_unpickler_refuses_other_globals_and_bad_content(tmp_path):
    bad = tmp_path / 'evil.pkl'
    bad.write_bytes(pickle.dumps({'conv1.weight': Payload()}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match='refused to unpickle global posix.system'):
        numpy_pickle_load(bad)
    assert not osp.exists(osp.join(os.getcwd(), 'PWNED_vggface2'))
    tens = tmp_path / 'tensor.pkl'  # a tensor is not a numpy array: refused, not rebuilt
    tens.write_bytes(pickle.dumps({'a': torch.zeros(2)}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match='numpy weight file may only hold numpy'):
        numpy_pickle_load(tens)
    lst = tmp_path / 'list.pkl'
    lst.write_bytes(pickle.dumps({'a': [1, 2]}, protocol=2))
    with pytest.raises(CorruptCheckpointError, match="dict of name → numpy array.*'a': list"):
        numpy_pickle_load(lst)
    text = tmp_path / 'page.pkl'
    text.write_text('<html>not found</html>')
    with pytest.raises(CorruptCheckpointError, match='page.pkl'):
        numpy_pickle_load(text)


@pytest.mark.parametrize('arch', ['senet50', 'resnet50'])
def test_tool_converts_a_release_format_file_and_reproduces_the_function(tmp_path, capsys,
                                                                         arch):
    w = official_weights(arch)
    src, dst = tmp_path / f'{arch}_ft_weight.pkl', tmp_path / 'out' / f'{arch}_mmfer.pth'
    write_py2_pickle(w, src)
    argv = [str(src), str(dst), '--width', str(WIDTH)]
    if arch == 'senet50':  # the command line, once (a fresh process imports mmfer: slow)
        env = dict(os.environ, OMP_NUM_THREADS='1')
        proc = subprocess.run([sys.executable, 'tools/model_converters/vggface2_to_mmfer.py',
                               *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
    else:
        out = run_main(argv, capsys)
    n_bn = 53
    n_se = 64 if arch == 'senet50' else 0
    assert (f"dropped ['fc.weight', 'fc.bias']; renamed {n_se} SE keys; added {n_bn} "
            'num_batches_tracked') in out
    ckpt = safe_torch_load(dst)
    info = ckpt['meta']['converted_from']
    assert info['dropped'] == ['fc.weight', 'fc.bias'] and info['entries'] == len(w) - 2 + n_bn
    assert info['target']['type'] == ('VGGFace2SEResNet' if arch == 'senet50'
                                      else 'VGGFace2ResNet')
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    # the converted weights in the mmfer backbone compute the official network's function
    model = build_backbone(arch, WIDTH)
    model.eval()  # (mmpretrain's ResNet.train returns None)
    load_checkpoint(model, str(dst), key_map=lambda sd: {k[len('backbone.'):]: v
                                                         for k, v in sd.items()})
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, ref = model(x)[-1], reference_forward(w, x, se=arch == 'senet50')
    assert ours.shape == ref.shape == (2, 8 * WIDTH * 4, 2, 2)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=1e-4)
    # with mmpretrain's padding-1 stem pool the same weights compute something else
    pt = build_backbone(arch, WIDTH)
    pt.maxpool = torch.nn.MaxPool2d(3, 2, padding=1)
    pt.load_state_dict(model.state_dict())
    pt.eval()
    with torch.no_grad():
        assert (pt(x)[-1] - ref).abs().max() > 1e-2


def test_errors_name_the_file_and_keys():
    w = official_weights('senet50')
    few = {k: w[k] for k in ('conv1.weight', 'bn1.weight', 'layer1.0.conv4.weight', 'fc.bias')}
    with pytest.raises(CheckpointMismatchError) as err:
        convert_vggface2_checkpoint(few, width=WIDTH, source='few.pkl')
    msg = str(err.value)
    assert msg.startswith('few.pkl does not match VGGFace2SEResNet') and 'missing keys' in msg
    assert '379 missing keys: bn1.bias, bn1.running_mean' in msg  # 382 keys − 3 given
    extra = dict(w, **{'layer1.0.conv6.weight': np.zeros(1, np.float32)})
    with pytest.raises(CheckpointMismatchError, match=r"few.pkl: 1 keys are neither .*"
                                                      r"'layer1.0.conv6.weight'"):
        convert_vggface2_checkpoint(extra, width=WIDTH, source='few.pkl')
    with pytest.raises(CheckpointMismatchError, match='a senet50 file .* use --arch senet50'):
        convert_vggface2_checkpoint(w, arch='resnet50', width=WIDTH, source='x.pkl')
    # the real-size network refuses the tiny file's shapes
    with pytest.raises(CheckpointMismatchError, match='shape mismatches: conv1.weight'):
        convert_vggface2_checkpoint(w, source='tiny.pkl')
