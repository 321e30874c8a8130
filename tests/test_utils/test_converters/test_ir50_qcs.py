"""IR-50 (layout A/B) and QCS/DCS checkpoint converters (backbones.md §1.4–1.5, qcs.md §11).

Synthetic files hold real key names and shapes; every entry is a distinct constant (a 1-element
storage expanded to the real shape, so the files stay a few hundred KB), which lets the tests
check that each loaded parameter came from the right source key.
"""
import os
import os.path as osp
import pickle
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch

from mmfer.models.backbones.ir50 import IResNet
from mmfer.utils.checkpoint import check_state_dict, load_checkpoint, safe_torch_load
from mmfer.utils.converters.ir50 import convert_ir50, load_ir50
from mmfer.utils.converters.qcs import (MainStub, build_training_model, convert_qcs_checkpoint,
                                        qcs_to_mmfer, restricted_torch_load, verify_converted)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
C = 768
#: first unit index of stages 1..4 in the single `body` Sequential of layout B (IR-50: 3-4-14-3)
B_OFFSETS = {1: 0, 2: 3, 3: 7, 4: 21}


def const(i, shape, key):
    if key.endswith('num_batches_tracked'):
        return torch.tensor(i, dtype=torch.long)
    return torch.full((1, ), float(i)).reshape(()).expand(shape)


def with_constants(shapes, start=1):
    return OrderedDict((k, const(start + i, s, k)) for i, (k, s) in enumerate(shapes.items()))


def ir_shapes(num_stages=3, output_layer=True):
    """Layout-A names and shapes of the IR-50 file (3-stage trunk + output layer = ir50.pth)."""
    with torch.device('meta'):  # names and shapes only
        m = IResNet(depth=50, num_stages=num_stages, out_indices=(num_stages - 1, ))
    shapes = OrderedDict((k, tuple(v.shape)) for k, v in m.state_dict().items())
    if output_layer:
        for i in (0, 4):
            for n in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'):
                shapes[f'output_layer.{i}.{n}'] = () if n == 'num_batches_tracked' else (512, )
        shapes['output_layer.3.weight'] = (512, 512 * 7 * 7)
        shapes['output_layer.3.bias'] = (512, )
    return shapes


def to_layout_b(sd):
    out = OrderedDict()
    for k, v in sd.items():
        if k.startswith('body'):
            stage, unit, rest = k[4], k.split('.')[1], k.split('.', 2)[2]
            k = f'body.{B_OFFSETS[int(stage)] + int(unit)}.{rest}'
        out[k] = v
    return out


@pytest.fixture(scope='module')
def layout_a():
    return with_constants(ir_shapes())


def test_layout_a_file_structure(layout_a):
    groups = {g: sum(k.startswith(g) for k in layout_a)
              for g in ('input_layer', 'body1', 'body2', 'body3', 'output_layer')}
    assert groups == dict(input_layer=7, body1=39, body2=58, body3=188, output_layer=12)
    assert len(layout_a) == 304
    assert len([k for k in layout_a if not k.endswith('num_batches_tracked')]) == 257
    assert sum(v.numel() for k, v in layout_a.items()
               if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))
               ) == 30_459_584


def test_layout_a_loads_strictly(tmp_path, layout_a):
    path = str(tmp_path / 'ir50.pth')
    torch.save(layout_a, path)
    assert osp.getsize(path) < 2_000_000
    model = IResNet(pretrained=path)
    model.init_weights()
    sd = model.state_dict()
    assert len(sd) == 292
    for k, v in sd.items():
        assert torch.equal(v, layout_a[k].expand_as(v)), k
    info = load_ir50(IResNet(), {'state_dict': OrderedDict(('module.' + k, v)
                                                           for k, v in layout_a.items())})
    assert info['layout'] == 'A' and info['entries'] == 292
    assert list(info['dropped'].values()) == [12]
    assert next(iter(info['dropped'])).startswith('output_layer.*')


def test_layout_b_maps_to_a_and_loads(tmp_path, layout_a):
    # a full face.evoLVe IR-50 in layout B: 349 entries (stage 4 and output layer included)
    full_a = with_constants(ir_shapes(num_stages=4))
    full_b = to_layout_b(full_a)
    assert len(full_b) == 349
    mapped, info = convert_ir50(full_b, num_stages=3)
    assert info['layout'] == 'B' and info['entries'] == 292
    assert sorted(info['dropped'].values()) == [12, 45]  # output layer, stage 4 (body.21-23)
    assert list(mapped) == [k for k in full_a if not k.startswith(('body4', 'output_layer'))]
    # the unit renames of the spec
    for b, a in (('body.0', 'body1.0'), ('body.3', 'body2.0'), ('body.6', 'body2.3'),
                 ('body.7', 'body3.0'), ('body.20', 'body3.13')):
        key = f'{b}.res_layer.1.weight'
        assert torch.equal(mapped[f'{a}.res_layer.1.weight'], full_b[key])
    # the 4-stage model keeps stage 4 (body.21 → body4.0)
    m4, info4 = convert_ir50(full_b, num_stages=4)
    assert info4['entries'] == 337 and torch.equal(m4['body4.0.res_layer.1.weight'],
                                                   full_b['body.21.res_layer.1.weight'])

    path = str(tmp_path / 'ir50_b.pth')
    torch.save({'state_dict': full_b}, path)
    model = IResNet(pretrained=path)
    model.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(v, full_a[k].expand_as(v)), k


def test_layout_b_without_mapping_raises(tmp_path, layout_a):
    b = to_layout_b(layout_a)
    assert len(b) == 304
    # what a tolerant name-matching loader would keep: input layer + output layer only
    assert len(set(b) & set(layout_a)) == 19
    path = str(tmp_path / 'b.pth')
    torch.save(b, path)
    with pytest.raises(KeyError, match='unexpected keys: body.0.res_layer.0.weight'):
        load_checkpoint(IResNet(), path)


def test_partial_and_mismatched_files_raise(tmp_path, layout_a):
    partial = OrderedDict(layout_a)
    del partial['body3.13.res_layer.4.running_var']
    with pytest.raises(KeyError, match=r'(?s)detected layout A.*1 missing keys: '
                                       r'body3.13.res_layer.4.running_var'):
        load_ir50(IResNet(), partial)
    wrong = OrderedDict(layout_a)
    wrong['body2.0.shortcut_layer.0.weight'] = torch.zeros(128, 64, 3, 3)
    with pytest.raises(KeyError, match=r'body2.0.shortcut_layer.0.weight: file \(128, 64, 3, 3\) '
                                       r'vs model \(128, 64, 1, 1\)'):
        load_ir50(IResNet(), wrong)
    wrong_b = to_layout_b(wrong)
    with pytest.raises(KeyError, match='detected layout B'):
        load_ir50(IResNet(), wrong_b)
    extra = OrderedDict(layout_a, **{'body.24.res_layer.0.weight': torch.zeros(512)})
    with pytest.raises(KeyError, match='mixes layout A'):
        load_ir50(IResNet(), extra)
    beyond = to_layout_b(layout_a)
    beyond['body.24.res_layer.0.weight'] = torch.zeros(512)
    with pytest.raises(KeyError, match='body.24 does not exist'):
        load_ir50(IResNet(), beyond)
    with pytest.raises(FileNotFoundError, match='ir50_to_mmfer.py'):
        load_ir50(IResNet(), str(tmp_path / 'missing.pth'))


def test_file_without_num_batches_tracked(layout_a):
    sd = OrderedDict((k, v) for k, v in layout_a.items() if not k.endswith('num_batches_tracked'))
    assert len(sd) == 257
    model = IResNet()
    info = load_ir50(model, sd)
    assert info['entries'] == 247
    assert torch.equal(model.body1[0].res_layer[0].running_mean,
                       sd['body1.0.res_layer.0.running_mean'])


# ---------------------------------------------------------------------------------------------
# QCS / DCS

def vit_shapes(depth, num_classes):
    s = OrderedDict(cls_token=(1, 1, C), pos_embed=(1, 148, C))
    for i in range(depth):
        b = f'blocks.{i}.'
        s.update({b + 'norm1.weight': (C, ), b + 'norm1.bias': (C, ),
                  b + 'attn.qkv.weight': (3 * C, C), b + 'attn.qkv.bias': (3 * C, ),
                  b + 'attn.proj.weight': (C, C), b + 'attn.proj.bias': (C, ),
                  b + 'norm2.weight': (C, ), b + 'norm2.bias': (C, ),
                  b + 'mlp.fc1.weight': (4 * C, C), b + 'mlp.fc1.bias': (4 * C, ),
                  b + 'mlp.fc2.weight': (C, 4 * C), b + 'mlp.fc2.bias': (C, ),
                  b + 'conv.weight': (148, 148, 1), b + 'conv.bias': (148, )})
    s.update({'norm.weight': (C, ), 'norm.bias': (C, ),
              'se_block.linear1.weight': (C, C), 'se_block.linear1.bias': (C, ),
              'se_block.linear2.weight': (C, C), 'se_block.linear2.bias': (C, ),
              'head.linear.weight': (num_classes, C), 'head.linear.bias': (num_classes, ),
              'patch_embed.proj.weight': (C, 256, 1, 1), 'patch_embed.proj.bias': (C, ),
              'CON1.weight': (C, 256, 1, 1), 'IRLinear1.weight': (C, 1024),
              'IRLinear1.bias': (C, ), 'IRLinear2.weight': (512, C), 'IRLinear2.bias': (512, ),
              'eca_block.conv.weight': (1, 1, 5)})
    return s


def qcs_shapes(num_classes=7, method='QCS', embed_names=('embed_q', 'embed_k', 'embed_v')):
    """Official birdwcp/QCS state-dict names and shapes (qcs.md §11.2), without 'module.'."""
    s = OrderedDict(('ir_back.' + k, v) for k, v in ir_shapes().items())
    for i, c in ((1, 64), (2, 128), (3, 256)):
        s[f'conv{i}.weight'], s[f'conv{i}.bias'] = (c, c, 3, 3), (c, )
    q, k, v = embed_names
    s.update({f'{q}.0.weight': (C, 64, 3, 3), f'{q}.0.bias': (C, ),
              f'{q}.1.weight': (C, C, 3, 3), f'{q}.1.bias': (C, ),
              f'{k}.0.weight': (C, 128, 3, 3), f'{k}.0.bias': (C, ),
              f'{v}.proj.weight': (C, 256, 1, 1), f'{v}.proj.bias': (C, )})
    s.update(('VIT_base.' + n, sh) for n, sh in vit_shapes(2, num_classes).items())
    s.update(('VIT_cross.' + n, sh) for n, sh in vit_shapes(1, num_classes).items())
    for lvl in (1, 2, 3):
        p = f'cross_attention_{lvl}.'
        if method == 'QCS':
            s[p + 'theta'] = ()
        s.update({p + 'norm1.weight': (C, ), p + 'norm1.bias': (C, ),
                  p + 'norm2.weight': (C, ), p + 'norm2.bias': (C, ),
                  p + 'proj.weight': (2 * C, C), p + 'proj.bias': (2 * C, ),
                  p + 'mlp.fc1.weight': (4 * C, C), p + 'mlp.fc1.bias': (4 * C, ),
                  p + 'mlp.fc2.weight': (C, 4 * C), p + 'mlp.fc2.bias': (C, )})
    return s


def expected_inference_name(key):
    """Hand-written target of each official key kept in an inference checkpoint (or None)."""
    if key.startswith('ir_back.'):
        return None if key.startswith('ir_back.output_layer') else 'backbone.' + key[8:]
    table = {'conv1': 'neck.reduce1', 'conv2': 'neck.reduce2', 'conv3': 'neck.reduce3',
             'embed_q.0': 'neck.embed1.0', 'embed_q.1': 'neck.embed1.1',
             'embed_k.0': 'neck.embed2.0', 'embed_v.proj': 'neck.embed3.0',
             'VIT_base.se_block.linear1': 'neck.vit.se.fc1',
             'VIT_base.se_block.linear2': 'neck.vit.se.fc2', 'VIT_base.head.linear': 'head.fc'}
    module, param = key.rsplit('.', 1)
    if module in table:
        return f'{table[module]}.{param}'
    if key.startswith('VIT_base.'):
        rest = key[len('VIT_base.'):]
        dead = ('patch_embed', 'CON1', 'IRLinear1', 'IRLinear2', 'eca_block')
        if rest.startswith(dead) or '.conv.' in rest:
            return None
        return 'neck.vit.' + rest
    return None  # VIT_cross, cross_attention_*


class RecorderMeter_loss:  # noqa: N801 (the official class name)
    """Stand-in for the official training script's recorder (holds numpy arrays)."""

    def __init__(self, total_epoch):
        self.total_epoch = total_epoch
        self.epoch_losses = np.zeros((total_epoch, 4), dtype=np.float32)


class RecorderMeter_matrix:  # noqa: N801
    def __init__(self):
        self.y_pred = np.array([1, 2, 3])
        self.y_true = np.array([1, 2, 4])


class Payload:
    """Pickles as a call of ``fn(*args)`` — what a malicious checkpoint would contain."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.fixture
def main_classes(monkeypatch):
    """Make the recorder classes pickle as ``__main__.<name>``, like the official script's."""
    main = sys.modules['__main__']
    for cls in (RecorderMeter_loss, RecorderMeter_matrix):
        monkeypatch.setattr(cls, '__module__', '__main__')
        monkeypatch.setattr(main, cls.__name__, cls, raising=False)
    yield


def qcs_container(state_dict, recorder=None):
    return {'epoch': 120,
            'state_dict': OrderedDict(('module.' + k, v) for k, v in state_dict.items()),
            'best_acc': torch.tensor(92.5),
            'optimizer': {'state': {0: {'old_p': torch.zeros(3)}},
                          'param_groups': [{'lr': 4e-6, 'betas': (0.9, 0.999), 'rho': 0.05,
                                            'adaptive': False, 'weight_decay': 0,
                                            'params': [0]}]},
            'recorder_m': RecorderMeter_matrix(),
            'recorder': recorder if recorder is not None else RecorderMeter_loss(200)}


@pytest.fixture(scope='module')
def qcs_sd():
    return with_constants(qcs_shapes())


@pytest.fixture(scope='module')
def base_model():
    from mmfer.utils.converters.qcs import build_inference_model
    model = build_inference_model(7)
    assert sum(p.numel() for p in model.parameters()) == 40_700_039
    return model


def test_qcs_checkpoint_converts_and_loads(tmp_path, main_classes, qcs_sd, base_model):
    assert len(qcs_sd) == 429
    path = str(tmp_path / '[05-01]-[10-00]-model_best.pth')
    torch.save(qcs_container(qcs_sd), path)
    # mmfer's weights-only loader refuses the __main__ classes ...
    with pytest.raises(pickle.UnpicklingError):
        safe_torch_load(path)
    # ... the restricted one maps them to inert stubs
    ckpt = restricted_torch_load(path)
    rec = ckpt['recorder']
    assert isinstance(rec, MainStub) and type(rec).__name__ == 'RecorderMeter_loss'
    assert not hasattr(rec, 'total_epoch')  # the state is stored, never applied
    assert rec._pickled_state['epoch_losses'].shape == (200, 4)
    assert float(ckpt['best_acc']) == 92.5

    out = convert_qcs_checkpoint(ckpt, source=osp.basename(path))
    sd, meta = out['state_dict'], out['meta']['converted_from']
    assert len(sd) == 340
    assert len([k for k in sd if not k.endswith('num_batches_tracked')]) == 295
    assert meta['method'] == 'QCS' and meta['num_classes'] == 7 and meta['ir_layout'] == 'A'
    assert meta['epoch'] == 120 and meta['best_acc'] == 92.5
    assert sum(meta['dropped'].values()) == 429 - 340
    assert sorted(meta['dropped'].values()) == [12, 22, 22, 33]

    expected = {expected_inference_name(k): k for k in qcs_sd}
    expected.pop(None)
    assert set(sd) == set(expected)
    load_checkpoint(base_model, out)  # strict: raises on any missing/unexpected/mis-shaped key
    model_sd = base_model.state_dict()
    for new, old in expected.items():
        assert torch.equal(model_sd[new], qcs_sd[old].expand_as(model_sd[new])), (new, old)


def test_qcs_training_conversion_and_variants(qcs_sd):
    sd, info = qcs_to_mmfer(qcs_sd, training=True)
    assert info['entries_out'] == 340 + 22 + 33
    assert torch.equal(sd['cross_neck.csa.0.theta'], qcs_sd['cross_attention_1.theta'])
    assert torch.equal(sd['cross_neck.csa.2.mlp.fc2.bias'], qcs_sd['cross_attention_3.mlp.fc2.bias'])
    assert torch.equal(sd['cross_neck.vit.se.fc2.weight'], qcs_sd['VIT_cross.se_block.linear2.weight'])
    assert torch.equal(sd['cross_head.fc.weight'], qcs_sd['VIT_cross.head.linear.weight'])
    assert 'cross_neck.vit.blocks.0.conv.weight' not in sd
    # the names and shapes are QCSClassifier's (configs/qcs/qcs_rafdb.py), strictly
    with torch.device('meta'):
        qcs_model = build_training_model('QCS', 7)
    check_state_dict(qcs_model, sd, source='QCS training conversion')
    assert len(qcs_model.state_dict()) == 395

    dcs = with_constants(qcs_shapes(num_classes=8, method='DCS'))
    assert len(dcs) == 426
    dcs8 = OrderedDict(dcs, **{'fusion.classifier.weight': torch.zeros(1).expand(8, 589824),
                               'fusion.classifier.bias': torch.zeros(8)})
    assert len(dcs8) == 428
    sd8, info8 = qcs_to_mmfer(dcs8)
    assert info8['method'] == 'DCS' and info8['num_classes'] == 8 and len(sd8) == 340
    meta8 = convert_qcs_checkpoint({'state_dict': dcs8}, dataset='affectnet8')['meta']
    assert meta8['classes'][0] == 'Neutral' and meta8['classes'][7] == 'Contempt'
    with pytest.raises(ValueError, match='8 classes but dataset .rafdb. has 7'):
        convert_qcs_checkpoint({'state_dict': dcs8}, dataset='rafdb')
    sd8_train, info8_train = qcs_to_mmfer(dcs8, training=True)
    assert len(sd8_train) == 340 + 22 + 30
    verify_converted(sd8_train, info8_train, training=True)  # DCSClassifier, 8 classes

    # the temporary embed_1/2/3 names of the repository history are aliases
    renamed = with_constants(qcs_shapes(embed_names=('embed_1', 'embed_2', 'embed_3')))
    sd_r, _ = qcs_to_mmfer(renamed)
    assert torch.equal(sd_r['neck.embed3.0.weight'], renamed['embed_3.proj.weight'])

    bad = OrderedDict(qcs_sd, **{'face_landback.conv1.conv.weight': torch.zeros(1)})
    with pytest.raises(KeyError, match='face_landback.conv1.conv.weight'):
        qcs_to_mmfer(bad)


@pytest.mark.parametrize('how', ['os.system', 'exec'])
def test_pickled_code_is_never_executed(tmp_path, main_classes, qcs_sd, how):
    marker = tmp_path / 'pwned.txt'
    if how == 'os.system':
        payload = Payload(os.system, (f'touch {marker}', ))
    else:
        payload = Payload(exec, (f"open({str(marker)!r}, 'w').write('x')", ))
    path = str(tmp_path / 'evil.pth')
    small = OrderedDict(list(qcs_sd.items())[:3])
    torch.save(qcs_container(small, recorder=payload), path)
    with pytest.raises(pickle.UnpicklingError, match='refused to unpickle global'):
        restricted_torch_load(path)
    assert not marker.exists()


def test_ir50_from_qcs_checkpoint(tmp_path, main_classes, qcs_sd):
    """The ‡ setting: IR-50 initialised from the ir_back.* of a trained QCS model."""
    path = str(tmp_path / 'qcs_affectnet8.pth')
    torch.save(qcs_container(qcs_sd), path)
    model = IResNet()
    info = load_ir50(model, path)
    assert info['trunk_prefix'] == 'ir_back.' and info['entries'] == 292
    assert sum(info['dropped'].values()) == 429 - 292
    assert torch.equal(model.body3[13].res_layer[3].weight,
                       qcs_sd['ir_back.body3.13.res_layer.3.weight'])


def start_tool(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_tool(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_cli_converters(tmp_path, main_classes, layout_a, qcs_sd, base_model):
    src_b = str(tmp_path / 'ir50_b.pth')
    torch.save(to_layout_b(layout_a), src_b)
    dst = str(tmp_path / 'out' / 'ir50_mmfer.pth')
    src_q = str(tmp_path / 'qcs.pth')
    torch.save(qcs_container(qcs_sd), src_q)
    dst_q = str(tmp_path / 'qcs_mmfer.pth')
    # both tools run as separate processes, concurrently (their start-up dominates)
    ir_proc = start_tool('tools/model_converters/ir50_to_mmfer.py', src_b, dst)
    qcs_proc = start_tool('tools/model_converters/qcs_to_mmfer.py', src_q, dst_q,
                          '--dataset', 'rafdb')

    out = finish_tool(ir_proc)
    assert 'layout B' in out and 'wrote 292 entries' in out
    assert '12 entries of output_layer' in out
    model = IResNet(pretrained=dst)
    model.init_weights()
    assert torch.equal(model.body2[3].res_layer[1].weight,
                       layout_a['body2.3.res_layer.1.weight'])

    out = finish_tool(qcs_proc)
    assert 'QCS checkpoint, 429 entries' in out and 'wrote 340 entries' in out
    assert 'verified against the mmfer base network' in out
    ckpt = load_checkpoint(base_model, dst_q)
    assert torch.equal(base_model.head.fc.bias, qcs_sd['VIT_base.head.linear.bias'])
    assert ckpt['meta']['classes'] == ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness',
                                       'Anger', 'Neutral']
    assert ckpt['meta']['input_cfg']['std'] == [58.395, 57.12, 57.375]
