"""The TensorBoard switch of configs/_base_/default_runtime.py: off by default (no event file),
on with ``--cfg-options visualizer.vis_backends.1.enable=True`` (the scalars read back)."""
import glob
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RUNTIME = osp.join(ROOT, 'configs', '_base_', 'default_runtime.py')


def build(cfg, name, save_dir):
    from mmfer.registry import VISUALIZERS
    return VISUALIZERS.build(dict(cfg.visualizer, name=name, save_dir=str(save_dir)))


def test_off_by_default(tmp_path):
    from mmfer.visualization import OptionalTensorboardVisBackend
    cfg = Config.fromfile(RUNTIME)
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'OptionalTensorboardVisBackend']
    vis = build(cfg, 'tb_off', tmp_path)
    tb = vis._vis_backends['OptionalTensorboardVisBackend']
    assert isinstance(tb, OptionalTensorboardVisBackend) and not tb.enable
    vis.add_scalars({'loss': 0.5}, step=1)
    vis.close()
    assert tb.experiment is None and not hasattr(tb, '_tensorboard')
    assert not glob.glob(str(tmp_path / '**' / 'events.out.tfevents*'), recursive=True)
    assert glob.glob(str(tmp_path / '**' / 'scalars.json'), recursive=True)  # local still on


@pytest.mark.skipif(importlib.util.find_spec('tensorboard') is None,
                    reason='tensorboard not installed (the `vis` extra: pip install -e '
                    '".[vis]"; make install installs it)')
def test_cfg_options_switch_writes_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)  # as tools/train.py
    opts = parser.parse_args(['--cfg-options', 'visualizer.vis_backends.1.enable=True'])
    cfg = Config.fromfile(RUNTIME)
    cfg.merge_from_dict(opts.cfg_options)
    assert cfg.visualizer.vis_backends[1].enable is True
    vis = build(cfg, 'tb_on', tmp_path)
    for step, loss in ((1, 0.75), (2, 0.5)):
        vis.add_scalars({'loss': loss, 'lr': 0.01}, step=step)
    vis.close()
    (events, ) = glob.glob(str(tmp_path / '**' / 'events.out.tfevents*'), recursive=True)
    acc = EventAccumulator(osp.dirname(events))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars('loss')] == [(1, 0.75), (2, 0.5)]
    assert [e.value for e in acc.Scalars('lr')] == pytest.approx([0.01, 0.01])


def test_runner_builds_both_backends(tmp_path):
    """A Runner of a shipped-style config builds the visualizer with the switch off."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py'))
    cfg.work_dir = str(tmp_path)
    cfg.visualizer.name = 'tb_runner'
    runner = Runner.from_cfg(cfg)
    backends = runner.visualizer._vis_backends
    assert list(backends) == ['LocalVisBackend', 'OptionalTensorboardVisBackend']
    assert not backends['OptionalTensorboardVisBackend'].enable
