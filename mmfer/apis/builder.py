"""The one way mmfer builds a model from a config — the way mmengine's Runner does.

``Runner.__init__`` (mmengine 0.10.7) merges the config's top-level ``data_preprocessor`` into
the model dict where the model states none (``model.setdefault('data_preprocessor',
cfg.data_preprocessor)``) and then builds ``MODELS.build(model)`` under the config's
``default_scope``.  :func:`build_model` does the same, so that ``tools/train.py`` / ``test.py``,
:func:`mmfer.apis.init_model`, the analysis tools (FLOPs, benchmark, attention maps) and the
converters build the very same module from a config; a config therefore states the data
preprocessor once, at top level (the dataset bases do), not again inside ``model``.

Weights are those of the modules' constructors: like the Runner at build time, ``init_weights``
(which loads ``pretrained`` files) is not called.
"""
import copy
import os.path as osp
from pathlib import Path
from typing import Optional, Union

import torch
from mmengine.config import Config, ConfigDict

__all__ = ['load_model_config', 'model_config', 'build_model']


def load_model_config(config: Union[str, Path, Config],
                      cfg_options: Optional[dict] = None) -> Config:
    """A :class:`Config` from a path (``custom_imports`` are imported) or a Config, with
    ``cfg_options`` (``--cfg-options`` style dotted keys) merged in.  A path that does not exist
    raises ``FileNotFoundError`` naming it.  A given Config is copied, never modified."""
    if isinstance(config, (str, Path)):
        config = str(config)
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file not found: {config}; pass the path of a .py '
                                    'config (e.g. configs/dan/dan_r18_rafdb.py)')
        cfg = Config.fromfile(config)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a path or an mmengine Config, got {type(config)}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def model_config(cfg: Config) -> ConfigDict:
    """A copy of ``cfg.model`` with the top-level ``data_preprocessor`` merged in where the model
    states none — exactly the dict mmengine's Runner builds (``Runner.__init__``:
    ``model.setdefault('data_preprocessor', data_preprocessor)``)."""
    if cfg.get('model') is None:
        raise KeyError(f'{cfg.filename or "config"}: the config has no `model` entry to build')
    model_cfg = copy.deepcopy(cfg.model)
    pre = cfg.get('data_preprocessor')
    if pre is not None and isinstance(model_cfg, dict):
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(pre))
    return model_cfg


def build_model(config: Union[str, Path, Config],
                device: Union[str, torch.device, None] = 'cpu',
                cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the model of ``config`` (a path or a Config) as mmengine's Runner does.

    Steps: read the config (:func:`load_model_config`), import mmfer (registers every plugin),
    set the config's ``default_scope`` (default ``'mmfer'``) as the current registry scope,
    merge the top-level ``data_preprocessor`` into the model (:func:`model_config`),
    ``MODELS.build`` it and move it to ``device`` (``None``: leave it where it was built, e.g.
    on the meta device inside ``with torch.device('meta')``).  The config is not modified.

    Returns the model in training mode with constructor weights (no ``init_weights``).
    """
    import mmfer  # noqa: F401  (registers every mmfer module)
    from mmengine.registry import init_default_scope

    from mmfer.registry import MODELS
    cfg = load_model_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmfer'))
    model = MODELS.build(model_config(cfg))
    return model if device is None else model.to(device)
