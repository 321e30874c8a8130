"""The NaN guard through the tools: tools/train.py stops a diverged run with an error and writes
no checkpoint; tools/test.py refuses a checkpoint with NaN weights (it used to report 18.75 %)."""
import glob
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmfer.registry import MODELS
from mmfer.utils.finite import NonFiniteError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
CLASSES = ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral']


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f'_tool_{name}',
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_tool_raises_on_nan_loss(tmp_path):
    """tools/train.py's main, in-process (a subprocess costs ~30 s of imports on the shared
    test machine): the error propagates out of main, so the CLI exits non-zero with it."""
    train_tool = load_tool('train')
    with pytest.raises(NonFiniteError) as info:
        train_tool.main([CFG, '--work-dir', str(tmp_path), '--no-validate', '--cfg-options',
                         'optim_wrapper.optimizer.lr=1e6', 'train_dataloader.batch_size=4',
                         'train_dataloader.dataset.num_samples=16'])
    assert str(info.value).startswith(
        'training stopped: non-finite loss at iteration 3 (epoch 1, batch 3/4)')
    assert glob.glob(str(tmp_path / '*.pth')) == [] and not osp.exists(
        tmp_path / 'last_checkpoint')


def test_test_tool_refuses_nan_weights(tmp_path):
    cfg = Config.fromfile(CFG)
    model = MODELS.build(cfg.model)
    state = model.state_dict()
    state['head.fc.weight'][0, :3] = float('nan')
    state['backbone.conv1.weight'].view(-1)[0] = float('inf')
    ckpt = str(tmp_path / 'epoch_3.pth')
    torch.save(dict(state_dict=state, meta=dict(classes=CLASSES)), ckpt)
    test_tool = load_tool('test')
    with pytest.raises(NonFiniteError) as info:
        test_tool.main([CFG, ckpt, '--work-dir', str(tmp_path / 'test'), '--no-figure'])
    msg = str(info.value)
    assert msg.startswith(f'{ckpt} has non-finite weights in 2 tensors: '
                          'backbone.conv1.weight (0 NaN, 1 inf), head.fc.weight (3 NaN, 0 inf)')
    assert 'Likely fixes: lower the learning rate' in msg
    assert not osp.exists(tmp_path / 'test' / 'metrics.json')
