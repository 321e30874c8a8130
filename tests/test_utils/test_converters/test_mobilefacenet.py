"""MobileFaceNet converter (backbones.md §2.3): a file written in the legacy (non-zip) torch
format with the official container and key names converts, loads strictly through mmfer's safe
loader (also with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1), and every mismatch raises."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import zipfile
from collections import OrderedDict

import pytest
import torch

from mmfer.models.backbones.mobilefacenet import MobileFaceNet
from mmfer.registry import MODELS
from mmfer.utils.checkpoint import (CheckpointMismatchError, UnsafeCheckpointError,
                                    safe_torch_load)
from mmfer.utils.converters.mobilefacenet import (MFN_ENTRIES, convert_mobilefacenet,
                                                  convert_mobilefacenet_checkpoint)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def official_state_dict(seed=0):
    torch.manual_seed(seed)
    m = MobileFaceNet()
    sd = OrderedDict()
    for i, (k, v) in enumerate(m.state_dict().items()):
        sd[k] = v if k.endswith('num_batches_tracked') else torch.randn(v.shape) + i
    return sd


def write_official(path, sd=None):
    """The released container: epoch 88, state_dict, acc, best_acc (0-d tensor), optimizer."""
    sd = official_state_dict() if sd is None else sd
    obj = dict(epoch=88, state_dict=sd, acc=0.0123, best_acc=torch.tensor(0.0101),
               optimizer=dict(state={}, param_groups=[dict(lr=1e-3, momentum=0.9,
                                                           weight_decay=5e-4,
                                                           params=list(range(283)))]))
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    return sd


def test_legacy_file_reads_weights_only(tmp_path, monkeypatch):
    src = str(tmp_path / 'mobilefacenet_model_best.pth.tar')
    sd = write_official(src)
    assert not zipfile.is_zipfile(src)  # really the legacy format
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    obj = safe_torch_load(src)
    assert sorted(obj) == ['acc', 'best_acc', 'epoch', 'optimizer', 'state_dict']
    assert len(obj['state_dict']) == MFN_ENTRIES == 333
    out = convert_mobilefacenet_checkpoint(obj, source='mfn.tar')
    info = out['meta']['converted_from']
    assert info['entries'] == 333 and info['epoch'] == 88
    assert info['dropped_top_level'] == ['acc', 'best_acc', 'epoch', 'optimizer']
    assert all(torch.equal(out['state_dict'][k], sd[k]) for k in sd)


def test_cli_converts_and_the_result_loads_into_the_aux_net(tmp_path):
    src = str(tmp_path / 'mobilefacenet_model_best.pth.tar')
    dst = str(tmp_path / 'out' / 'mfn_mmfer.pth')
    sd = write_official(src)
    # module. prefix (DataParallel) is stripped
    res = subprocess.run([sys.executable, 'tools/model_converters/mobilefacenet_to_mmfer.py',
                          src, dst], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert res.returncode == 0, res.stderr
    assert 'wrote 333 entries' in res.stdout and "'optimizer'" in res.stdout
    assert zipfile.is_zipfile(dst)
    for pretrained in (dst, src, dict(checkpoint=dst, prefix='')):
        model = MODELS.build(dict(
            type='FERClassifier',
            backbone=dict(type='IResNet', depth=50, num_stages=1, out_indices=(0, ),
                          base_channels=4),
            aux_nets=dict(landmark=dict(type='MobileFaceNet', frozen=True,
                                        pretrained=pretrained)),
            head=dict(type='FERClsHead', num_classes=7, in_channels=4)))
        model.init_weights()
        got = model.aux_nets['landmark'].state_dict()
        assert all(torch.equal(got[k], sd[k]) for k in sd), pretrained


def test_module_prefix_and_missing_nbt():
    sd = official_state_dict()
    pref = OrderedDict(('module.' + k, v) for k, v in sd.items())
    out, info = convert_mobilefacenet(pref)
    assert list(out) == list(sd) and info['entries'] == 333
    no_nbt = OrderedDict((k, v) for k, v in sd.items() if not k.endswith('num_batches_tracked'))
    out, info = convert_mobilefacenet(no_nbt)
    assert info == dict(entries=283, num_batches_tracked=False)


def test_mismatches_raise_naming_the_keys():
    sd = official_state_dict()
    missing = OrderedDict(sd)
    del missing['conv_4.model.5.project.bn.running_var']
    with pytest.raises(CheckpointMismatchError,
                       match='1 missing keys: conv_4.model.5.project.bn.running_var'):
        convert_mobilefacenet(missing, source='mfn.tar')
    extra = OrderedDict(sd, **{'output_layer.linear.bias': torch.zeros(136)})
    with pytest.raises(CheckpointMismatchError, match='unexpected keys: output_layer.linear.bias'):
        convert_mobilefacenet(extra)
    bad = OrderedDict(sd)
    bad['output_layer.linear.weight'] = torch.zeros(98 * 2, 512)
    shapes = r'output_layer.linear.weight: file \(196, 512\) vs model \(136, 512\)'
    with pytest.raises(CheckpointMismatchError, match=shapes):
        convert_mobilefacenet(bad)
    # a 98-point (196-output) variant converts when asked for
    out, _ = convert_mobilefacenet({k: v for k, v in bad.items()
                                    if not k.startswith('output_layer.bn.')} |
                                   {f'output_layer.bn.{n}': torch.zeros(196) for n in
                                    ('weight', 'bias', 'running_mean', 'running_var')} |
                                   {'output_layer.bn.num_batches_tracked': torch.tensor(0)},
                                   num_landmarks=196)
    assert out['output_layer.linear.weight'].shape == (196, 512)


class _Payload:
    def __reduce__(self):
        return (os.system, ('touch PWNED_MFN',))


def test_malicious_legacy_file_is_refused(tmp_path, monkeypatch):
    src = str(tmp_path / 'evil.pth.tar')
    torch.save(dict(epoch=1, state_dict=official_state_dict(), x=_Payload()), src,
               _use_new_zipfile_serialization=False)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location(
        'mobilefacenet_to_mmfer',
        osp.join(ROOT, 'tools', 'model_converters', 'mobilefacenet_to_mmfer.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(UnsafeCheckpointError, match='refused to load.*GLOBAL posix'):
        tool.main([src, str(tmp_path / 'o.pth')])
    assert not (tmp_path / 'PWNED_MFN').exists() and not (tmp_path / 'o.pth').exists()
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(src)
