import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmfer.utils.checkpoint import (check_state_dict, load_checkpoint, safe_torch_load,
                                    strip_prefix)


class _Payload:
    """Unpickling this would create a file: the loader must refuse it before that."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_malicious_pickle_refused_without_running_payload(tmp_path):
    target = tmp_path / 'pwned.txt'
    ckpt = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': _Payload(str(target))}, ckpt)
    # saving does not run __reduce__'s callable; loading unsafely would
    assert not target.exists()
    with pytest.raises(pickle.UnpicklingError):
        safe_torch_load(str(ckpt))
    assert not target.exists()


def test_getattr_gadget_refused(tmp_path):
    """A file using builtins.getattr (as mmengine's raw HistoryBuffer pickles do) is refused:
    getattr is deliberately not allow-listed."""

    class _Gadget:
        def __reduce__(self):
            return (getattr, (np.ndarray, 'tofile'))

    path = tmp_path / 'gadget.pth'
    torch.save({'g': _Gadget()}, path)
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        safe_torch_load(str(path))


def test_mmengine_objects_round_trip(tmp_path):
    hub = MessageHub.get_instance('mmfer_test_ckpt')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('array', np.arange(3))
    path = tmp_path / 'c.pth'
    torch.save({'message_hub': hub.state_dict(), 'meta': {'seed': np.int64(3)},
                'state_dict': {'w': torch.ones(2)}}, path)
    ckpt = safe_torch_load(str(path))
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(1.0)
    assert buf.current() == pytest.approx(0.5)
    assert ckpt['message_hub']['runtime_info']['array'].tolist() == [0, 1, 2]
    assert int(ckpt['meta']['seed']) == 3


def test_strict_loading_lists_every_problem(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    good = OrderedDict(('module.' + k, v.clone()) for k, v in model.state_dict().items())
    path = tmp_path / 'ok.pth'
    torch.save({'state_dict': good}, path)
    load_checkpoint(model, str(path))  # module. prefix stripped, exact match

    bad = strip_prefix(good)
    bad.pop('1.bias')
    bad['extra.weight'] = torch.zeros(1)
    bad['0.weight'] = torch.zeros(4, 2)
    with pytest.raises(KeyError) as err:
        check_state_dict(model, bad)
    msg = str(err.value)
    assert '1 missing keys: 1.bias' in msg
    assert '1 unexpected keys: extra.weight' in msg
    assert '0.weight: file (4, 2) vs model (3, 2)' in msg


def test_missing_file_message():
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        safe_torch_load('nope.pth')
