"""NonFiniteLossHook: a diverged run (lr = 1e6) stops at the first NaN loss with the iteration,
the loss terms and the fixes in the error, and no NaN checkpoint is ever written."""
import glob
import math
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.runner import Runner

from mmfer.engine.hooks.non_finite_loss_hook import NonFiniteLossHook
from mmfer.utils.finite import (NonFiniteError, check_finite_weights, describe_non_finite,
                                non_finite_tensors)

pytestmark = pytest.mark.usefixtures('one_thread')


class _Log:
    def __init__(self):
        self.lines = []

    def warning(self, msg):
        self.lines.append(('WARNING', msg))

    def error(self, msg):
        self.lines.append(('ERROR', msg))


def fake_runner(it=6, epoch=1, n_batches=4):
    return SimpleNamespace(logger=_Log(), iter=it, epoch=epoch, work_dir='/tmp/wd',
                           train_loop=SimpleNamespace(dataloader=[None] * n_batches))


def test_hook_message_names_iteration_terms_and_fixes():
    hook, runner = NonFiniteLossHook(), fake_runner()
    outputs = dict(loss=torch.tensor(float('nan')), loss_ce=torch.tensor(1.5),
                   loss_affinity=torch.tensor(float('inf')), acc=torch.tensor(0.5))
    with pytest.raises(NonFiniteError) as info:
        hook.after_train_iter(runner, batch_idx=2, outputs=outputs)
    msg = str(info.value)
    # runner.iter is 0-based during the hook: the 7th iteration, 3rd batch of epoch 2
    assert 'iteration 7 (epoch 2, batch 3/4)' in msg
    assert 'non-finite: loss, loss_affinity;' in msg
    assert 'loss=nan, loss_ce=1.5, loss_affinity=inf' in msg
    assert 'acc' not in msg.split('loss terms:')[1].split(')')[0]
    for fix in ('lower the learning rate', 'clip_grad', 'loss scale', 'corrupt images',
                'default_hooks.non_finite.max_bad_iters'):
        assert fix in msg
    assert runner.logger.lines == [('ERROR', msg)]


def test_max_bad_iters_counts_consecutive_iterations():
    hook, runner = NonFiniteLossHook(max_bad_iters=3), fake_runner()
    nan, ok = dict(loss=torch.tensor(float('nan'))), dict(loss=torch.tensor(0.7))
    hook.after_train_iter(runner, 0, outputs=nan)
    hook.after_train_iter(runner, 1, outputs=nan)
    assert hook.bad_iters == 2
    assert [lvl for lvl, _ in runner.logger.lines] == ['WARNING', 'WARNING']
    assert '2/3 consecutive bad iterations tolerated' in runner.logger.lines[1][1]
    hook.after_train_iter(runner, 2, outputs=ok)  # a finite loss resets the count
    assert hook.bad_iters == 0
    for i in range(2):
        hook.after_train_iter(runner, 3 + i, outputs=nan)
    with pytest.raises(NonFiniteError, match='3 consecutive bad iteration'):
        hook.after_train_iter(runner, 5, outputs=nan)
    with pytest.raises(ValueError, match='max_bad_iters must be an int >= 1'):
        NonFiniteLossHook(max_bad_iters=0)


def test_checkpoint_with_nan_weights_is_refused():
    hook, runner = NonFiniteLossHook(), fake_runner(it=8, epoch=1)
    state = {'backbone.w': torch.tensor([1.0, float('nan'), float('nan')]),
             'head.b': torch.tensor([float('-inf')]), 'bn.num_batches_tracked': torch.tensor(3),
             'ok': torch.ones(2)}
    with pytest.raises(NonFiniteError) as info:
        hook.before_save_checkpoint(runner, dict(state_dict=state))
    msg = str(info.value)
    assert msg.startswith('checkpoint refused at epoch 2, iteration 8: non-finite weights in '
                          '2 tensors: state_dict.backbone.w (2 NaN, 0 inf), '
                          'state_dict.head.b (0 NaN, 1 inf). Nothing was written')
    hook.before_save_checkpoint(runner, dict(state_dict={'ok': torch.ones(2)}))  # finite: no-op


def test_check_finite_weights_helpers():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    check_finite_weights(model, 'm.pth')  # finite: returns None
    with torch.no_grad():
        model[0].weight[0, 0] = float('nan')
        model[1].running_var[1] = float('inf')
    bad = non_finite_tensors(model)
    assert bad == [('0.weight', 1, 0), ('1.running_var', 0, 1)]
    assert describe_non_finite(bad, limit=1) == '2 tensors: 0.weight (1 NaN, 0 inf), and 1 more'
    with pytest.raises(NonFiniteError, match=r'^m\.pth has non-finite weights in 2 tensors'):
        check_finite_weights(model, 'm.pth')
    # nested state dicts are flattened
    assert non_finite_tensors({'a': {'b': torch.tensor([math.nan])}}) == [('a.b', 1, 0)]


def test_lr_1e6_stops_at_first_nan_and_saves_nothing(tmp_path, tiny_cfg, log_text):
    """The issue's case: SGD lr = 1e6 gives NaN at iteration 3; training used to continue and
    save NaN checkpoints."""
    cfg = tiny_cfg(tmp_path, num_samples=16, batch_size=4, max_epochs=3, lr=1e6)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NonFiniteError) as info:
        runner.train()
    assert 'non-finite loss at iteration 3 (epoch 1, batch 3/4)' in str(info.value)
    assert 'loss=nan, loss_ce=nan' in str(info.value)
    assert runner.iter == 2  # the loop stopped inside the 3rd iteration
    assert glob.glob(osp.join(str(tmp_path), '*.pth')) == []
    assert 'ERROR' in log_text(tmp_path) and 'training stopped: non-finite loss' in log_text(
        tmp_path)


def test_tolerated_nan_run_never_writes_a_nan_checkpoint(tmp_path, tiny_cfg):
    """With max_bad_iters large the NaN run reaches the end of epoch 1; CheckpointHook's save
    is refused before anything (epoch_1.pth, last_checkpoint) is written."""
    cfg = tiny_cfg(tmp_path, num_samples=16, batch_size=4, max_epochs=2, lr=1e6)
    cfg.default_hooks.non_finite.max_bad_iters = 100
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NonFiniteError, match=r'checkpoint refused at epoch 1, iteration 4: '
                       r'non-finite weights in \d+ tensors: state_dict\.'):
        runner.train()
    assert not osp.exists(tmp_path / 'epoch_1.pth')
    assert not osp.exists(tmp_path / 'last_checkpoint')
