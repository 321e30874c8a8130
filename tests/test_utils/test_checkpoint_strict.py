"""Strict ``load_from`` / ``--resume`` (FERRunner), the ``load_from_partial`` opt-in, and atomic
checkpoint writes (a failure midway leaves no partial ``epoch_N.pth`` / ``last_checkpoint``).

One tiny SynthFER run of 1 epoch (4 iterations) makes a real mmengine training checkpoint.
"""
import errno
import importlib.util
import logging
import os
import os.path as osp
from collections import OrderedDict

import pytest
import torch
from mmengine.config import Config

import mmfer  # noqa: F401
from mmfer.engine.runner import FERRunner
from mmfer.utils.checkpoint import (CheckpointError, CheckpointMismatchError, atomic_torch_save,
                                    atomic_write_bytes, safe_torch_load)

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')


def _train_tool():
    spec = importlib.util.spec_from_file_location('mmfer_tool_train_strict',
                                                  osp.join(ROOT, 'tools', 'train.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Work dir of a 1-epoch tiny run (epoch_1.pth, last_checkpoint)."""
    work = tmp_path_factory.mktemp('strict_train')
    _train_tool().main([TINY, '--work-dir', str(work), '--no-validate',
                        '--cfg-options', 'train_cfg.max_epochs=1'])
    assert (work / 'epoch_1.pth').is_file()
    return work


def _runner(tmp_path, **cfg_overrides) -> FERRunner:
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp_path / 'run')
    cfg.merge_from_dict(cfg_overrides)
    return FERRunner.from_cfg(cfg)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _variant(trained, tmp_path, name, edit):
    ckpt = torch.load(trained / 'epoch_1.pth', map_location='cpu', weights_only=True)
    edit(ckpt['state_dict'])
    path = tmp_path / f'{name}.pth'
    torch.save(ckpt, path)
    return str(path)


def test_tools_train_uses_fer_runner():
    cfg = Config.fromfile(TINY)
    assert cfg.runner_type == 'FERRunner'  # from configs/_base_/default_runtime.py


@pytest.mark.parametrize('mode', ['load_from', 'resume'])
def test_mismatched_checkpoints_are_errors_listing_keys(trained, tmp_path, mode):
    runner = _runner(tmp_path)
    missing = _variant(trained, tmp_path, 'missing', lambda sd: sd.pop('head.fc.bias'))
    extra = _variant(trained, tmp_path, 'extra',
                     lambda sd: sd.__setitem__('neck.extra.weight', torch.zeros(3)))
    shaped = _variant(trained, tmp_path, 'shaped',
                      lambda sd: sd.__setitem__('head.fc.weight', torch.zeros(5, 64)))
    load = runner.resume if mode == 'resume' else runner.load_checkpoint
    expected = {missing: '1 missing keys: head.fc.bias',
                extra: '1 unexpected keys: neck.extra.weight',
                shaped: '1 shape mismatches: head.fc.weight: file (5, 64) vs model (7, 64)'}
    for path, line in expected.items():
        with pytest.raises(CheckpointMismatchError) as err:
            load(path)
        lines = str(err.value).splitlines()
        assert lines[0] == f'{mode} checkpoint {path} does not match FERClassifier:'
        assert lines[1] == '  ' + line
        assert lines[-1].startswith('  Fix: resume needs a checkpoint this config wrote'
                                    if mode == 'resume' else
                                    '  Fix: load_from must match the model exactly')


def test_good_checkpoint_loads_and_resumes(trained, tmp_path):
    ref = safe_torch_load(trained / 'epoch_1.pth')['state_dict']
    runner = _runner(tmp_path)
    runner.load_checkpoint(str(trained / 'epoch_1.pth'))
    for k, v in runner.model.state_dict().items():
        assert torch.equal(v, ref[k]), k
    runner = _runner(tmp_path, resume=True)  # auto-resume from last_checkpoint
    runner._work_dir = str(trained)
    runner.load_or_resume()
    assert (runner.epoch, runner.iter) == (1, 4)


def test_loss_state_may_be_absent_from_load_from_only(trained, tmp_path):
    runner = _runner(tmp_path)
    # give the head a loss with state (as DAN's affinity centers): key head.losses.0.centers
    runner.model.head.losses[0].register_buffer('centers', torch.full((7, 4), 3.0))
    path = str(trained / 'epoch_1.pth')
    runner.load_checkpoint(path)  # additive loss state: kept at its initial value
    assert float(runner.model.head.losses[0].centers.sum()) == 84.0
    with pytest.raises(CheckpointMismatchError, match='1 missing keys: head.losses.0.centers'):
        runner.resume(path)


def test_resume_needs_a_training_checkpoint(trained, tmp_path):
    sd = safe_torch_load(trained / 'epoch_1.pth')['state_dict']
    path = tmp_path / 'converted.pth'
    torch.save({'state_dict': sd, 'meta': {'classes': ['a']}}, path)
    with pytest.raises(CheckpointError) as err:
        _runner(tmp_path).resume(str(path))
    assert str(err.value).splitlines()[0] == (
        f'{path}: cannot resume from this file: it is not an mmengine training checkpoint '
        '(no meta.epoch, meta.iter, message_hub).')


def test_partial_load_opt_in_names_what_is_skipped(trained, tmp_path):
    path = _variant(trained, tmp_path, 'five_classes',
                    lambda sd: (sd.__setitem__('head.fc.weight', torch.ones(5, 64)),
                                sd.__setitem__('head.fc.bias', torch.ones(5))))
    runner = _runner(tmp_path, load_from_partial=dict(skip=[r'^head\.fc\.']))
    init_fc = runner.model.head.fc.weight.detach().clone()
    records = _Records()
    runner.logger.addHandler(records)
    try:
        runner.load_checkpoint(path)
    finally:
        runner.logger.removeHandler(records)
    ref = safe_torch_load(path)['state_dict']
    assert torch.equal(runner.model.backbone.conv1.weight, ref['backbone.conv1.weight'])
    assert torch.equal(runner.model.head.fc.weight, init_fc)  # kept its initialisation
    text = '\n'.join(records.messages)
    assert "partial load of " + path + " (skip=['^head\\\\.fc\\\\.'])" in text
    assert '2 file entries not loaded: head.fc.weight, head.fc.bias' in text
    assert '2 model entries keep their initialisation: head.fc.weight, head.fc.bias' in text
    # a pattern that matches nothing is a typo, not a silent full load
    runner.cfg.load_from_partial = dict(skip=[r'^haed\.'])
    with pytest.raises(CheckpointError, match=r"\['\^haed\\\\.'\] match no key"):
        runner.load_checkpoint(path)
    runner.cfg.load_from_partial = dict(skip=r'^head\.')
    with pytest.raises(CheckpointError, match='must be dict'):
        runner.load_checkpoint(path)


def _failing_write(monkeypatch, after_bytes):
    """os.write that writes ``after_bytes`` in total, then fails as a full disk does."""
    real = os.write
    state = dict(left=after_bytes)

    def write(fd, data):
        if state['left'] <= 0:
            raise OSError(errno.ENOSPC, 'No space left on device')
        n = real(fd, bytes(data[:state['left']]))
        state['left'] -= n
        return n

    monkeypatch.setattr(os, 'write', write)


def test_atomic_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / 'epoch_1.pth'
    atomic_torch_save({'w': torch.arange(10)}, target)
    before = target.read_bytes()
    _failing_write(monkeypatch, after_bytes=100)
    with pytest.raises(OSError, match='No space left'):
        atomic_torch_save({'w': torch.arange(10_000)}, target)
    with pytest.raises(OSError):
        atomic_write_bytes(b'x' * 1000, tmp_path / 'new.txt')
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth']  # no temporary, no new.txt


def test_failed_checkpoint_save_leaves_no_partial_file(trained, tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend
    from mmengine.hooks import CheckpointHook
    assert type(get_file_backend(str(tmp_path))).__name__ == 'AtomicLocalBackend'
    work = tmp_path / 'work'
    work.mkdir()
    for name in ('epoch_1.pth', 'last_checkpoint'):
        (work / name).write_bytes((trained / name).read_bytes())
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    runner = _runner(tmp_path, resume=True)
    runner._work_dir = str(work)
    runner.load_or_resume()
    hook = next(h for h in runner.hooks if isinstance(h, CheckpointHook))
    hook.before_train(runner)
    _failing_write(monkeypatch, after_bytes=4096)  # epoch_2.pth is ~100 kB
    with pytest.raises(OSError, match='No space left'):
        hook._save_checkpoint(runner)
    monkeypatch.undo()
    files = sorted(f for f in os.listdir(work) if not osp.isdir(work / f))
    assert [f for f in files if f.endswith(('.pth', '.tmp')) or f.startswith('.')] == \
        ['epoch_1.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    assert safe_torch_load(work / 'epoch_1.pth')['meta']['epoch'] == 1
    hook._save_checkpoint(runner)  # the disk has room again: a whole file, then the pointer
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_2.pth')
    assert safe_torch_load(work / 'epoch_2.pth')['meta']['epoch'] == 2  # mmengine: epoch + 1


def test_converter_output_is_atomic(tmp_path, monkeypatch):
    from torchvision.models import resnet18
    src = tmp_path / 'r18.pth'
    torch.save({'state_dict': resnet18().state_dict()}, src)
    spec = importlib.util.spec_from_file_location(
        'mmfer_tool_r18', osp.join(ROOT, 'tools', 'model_converters',
                                   'resnet18_msceleb_to_mmfer.py'))
    conv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conv)
    dst = tmp_path / 'out.pth'
    _failing_write(monkeypatch, after_bytes=1 << 20)
    with pytest.raises(OSError, match='No space left'):
        conv.main([str(src), str(dst)])
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ['r18.pth']
    conv.main([str(src), str(dst)])
    assert len(safe_torch_load(dst)['state_dict']) == 120
    assert isinstance(safe_torch_load(dst)['state_dict'], (dict, OrderedDict))


def test_test_tool_mismatch_names_the_file_in_lines(trained, tmp_path):
    """tools/test.py on a damaged file: the error is lines naming the file (it was a KeyError
    whose str showed a literal \\n and no path)."""
    path = _variant(trained, tmp_path, 'missing_fc', lambda sd: sd.pop('head.fc.weight'))
    spec = importlib.util.spec_from_file_location('mmfer_tool_test_strict',
                                                  osp.join(ROOT, 'tools', 'test.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(KeyError) as err:  # CheckpointMismatchError is also a KeyError
        tool.main([TINY, path, '--work-dir', str(tmp_path / 'w')])
    assert isinstance(err.value, CheckpointMismatchError)
    assert str(err.value).splitlines()[:2] == [
        f'{path} does not match FERClassifier:', '  1 missing keys: head.fc.weight']
    assert not (tmp_path / 'w' / 'metrics.json').exists()
