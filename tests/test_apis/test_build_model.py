"""mmfer.apis.build_model: the one config → model path, equal to what mmengine's Runner builds."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mmfer.apis
from mmfer.apis import build_model, model_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def _top_level_cfg():
    """The tiny config with its data preprocessor moved to top level (as the shipped configs)."""
    cfg = Config.fromfile(TINY)
    cfg.data_preprocessor = cfg.model.pop('data_preprocessor')
    return cfg


def test_exports():
    assert set(mmfer.apis.__all__) >= {'build_model', 'init_model', 'inference_model'}
    from mmfer.apis import inference_model, init_model  # noqa: F401  (the documented import)


def test_top_level_data_preprocessor_is_merged():
    cfg = _top_level_cfg()
    before = copy.deepcopy(cfg.to_dict())
    model = build_model(cfg)
    pre = model.data_preprocessor
    assert type(pre).__name__ == 'ClsDataPreprocessor'
    torch.testing.assert_close(pre.mean.flatten(), torch.tensor(MEAN))
    torch.testing.assert_close(pre.std.flatten(), torch.tensor(STD))
    assert pre.to_rgb is True
    assert cfg.to_dict() == before  # the given config is not modified
    assert model_config(cfg).data_preprocessor.mean == MEAN
    assert 'data_preprocessor' not in cfg.model


def test_model_data_preprocessor_wins():
    cfg = _top_level_cfg()
    cfg.model.data_preprocessor = dict(mean=[0., 0., 0.], std=[1., 1., 1.])
    pre = build_model(cfg).data_preprocessor
    torch.testing.assert_close(pre.mean.flatten(), torch.zeros(3))
    torch.testing.assert_close(pre.std.flatten(), torch.ones(3))


def test_equals_the_runner(tmp_path):
    """Same seed → the same modules, buffers and weights as mmengine's Runner.from_cfg."""
    from mmengine.runner import Runner
    cfg = _top_level_cfg()
    cfg.work_dir = str(tmp_path)
    torch.manual_seed(0)
    runner_model = Runner.from_cfg(copy.deepcopy(cfg)).model
    torch.manual_seed(0)
    model = build_model(cfg)
    a, b = runner_model.state_dict(), model.state_dict()
    assert list(a) == list(b) and len(a) == 122
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    torch.testing.assert_close(runner_model.data_preprocessor.mean,
                               model.data_preprocessor.mean, rtol=0, atol=0)


def test_path_and_options():
    model = build_model(TINY, cfg_options={'model.head.num_classes': 5})
    linears = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    assert linears[-1].out_features == 5


def test_errors(tmp_path):
    missing = str(tmp_path / 'nope.py')
    with pytest.raises(FileNotFoundError, match='config file not found: .*nope.py'):
        build_model(missing)
    with pytest.raises(TypeError, match='config must be a path or an mmengine Config'):
        build_model(dict(model=dict(type='FERClassifier')))
    cfg = Config(dict(default_scope='mmfer'))
    with pytest.raises(KeyError, match='no `model` entry'):
        build_model(cfg)
