"""mmfer's hooks are default hooks: a config with its own custom_hooks (an EMAHook) keeps
RunInfoHook (class names in checkpoints) and the training guards; every shipped config has them."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmfer.engine.hooks.run_info_hook import RunInfoHook

pytestmark = pytest.mark.usefixtures('one_thread')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CLASSES = ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral']
MMFER_DEFAULTS = dict(run_info='RunInfoHook', non_finite='NonFiniteLossHook',
                      single_sample_batch='SingleSampleBatchHook', dist_timeout='DistTimeoutHook')


def test_user_custom_hooks_keep_run_info_and_guards(tmp_path, tiny_cfg):
    cfg = tiny_cfg(tmp_path, num_samples=8, batch_size=4, max_epochs=1)
    cfg.custom_hooks = [dict(type='EMAHook')]
    runner = Runner.from_cfg(cfg)
    names = [type(h).__name__ for h in runner.hooks]
    for name in list(MMFER_DEFAULTS.values()) + ['EMAHook']:
        assert names.count(name) == 1, name
    runner.train()
    ckpt = torch.load(tmp_path / 'epoch_1.pth', map_location='cpu', weights_only=True)
    assert ckpt['meta']['classes'] == CLASSES
    assert ckpt['meta']['input_cfg']['mean'] == [123.675, 116.28, 103.53]
    assert 'ema_state_dict' in ckpt  # the user's hook ran too
    info = json.load(open(tmp_path / 'run_info.json'))
    assert info['splits']['train']['num_samples'] == 8
    # the CPU facts that move numbers (kernel width, native bf16 / fp16) are recorded
    env = info['env']
    assert env['CPU capability'] in ('DEFAULT', 'AVX2', 'AVX512', 'NEON', 'SVE256', 'VSX',
                                     'ZVECTOR')
    assert env['CPU native bf16 (oneDNN)'] in ('True', 'False')
    assert env['CPU native fp16 (oneDNN)'] in ('True', 'False')
    assert int(env['torch threads']) == torch.get_num_threads() and env['CPU']


def test_run_info_listed_twice_records_once(tmp_path, tiny_cfg, log_text):
    cfg = tiny_cfg(tmp_path, num_samples=8, batch_size=4)
    cfg.custom_hooks = [dict(type='RunInfoHook')]  # an older config's line
    runner = Runner.from_cfg(cfg)
    hooks = [h for h in runner.hooks if isinstance(h, RunInfoHook)]
    assert len(hooks) == 2
    for hook in hooks:
        hook.before_run(runner)
    assert [h.duplicate for h in hooks] == [False, True]
    checkpoint = dict(meta=dict(dataset_meta=dict(classes=CLASSES)))
    hooks[1].before_save_checkpoint(runner, checkpoint)
    assert 'rng_state' not in checkpoint  # the ignored instance adds nothing
    hooks[0].before_save_checkpoint(runner, checkpoint)
    assert checkpoint['meta']['classes'] == CLASSES and 'rng_state' in checkpoint
    assert ("WARNING - RunInfoHook is registered twice: it is a default hook "
            "(default_hooks.run_info") in log_text(tmp_path)


def test_every_shipped_config_has_the_default_hooks():
    files = sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))
    files = [f for f in files if '_base_' not in f]
    files += sorted(glob.glob(osp.join(ROOT, 'tests', 'data', 'configs', '*.py')))
    assert len(files) >= 20
    checked = 0
    for path in files:
        cfg = Config.fromfile(path, import_custom_modules=False)
        if 'default_hooks' not in cfg:  # model-only test configs (tiny_conv.py ...)
            continue
        checked += 1
        for key, hook_type in MMFER_DEFAULTS.items():
            assert cfg.default_hooks[key]['type'] == hook_type, (path, key)
        custom = [h['type'] for h in cfg.get('custom_hooks', [])]
        assert 'RunInfoHook' not in custom, path
        assert cfg.env_cfg.dist_cfg.timeout == 1800, path
    assert checked >= 20
